import type { Metadata, VectorDb, VectorRecord } from '@switchyard/vector-db';

/**
 * Of these documents' chunks as they would be written now (`wanted[i]`: document i's, ids included),
 * which documents the store already holds exactly so: every chunk there with the same user, document,
 * index, text and metadata, and an embedding of `dimensions`. One read of the store for all of them,
 * without the embeddings' values (only their dimension is compared).
 * (Whether the embeddings are the current model's is the caller's to know: the document's model.)
 */
export async function storedAsWritten(vectors: VectorDb, wanted: VectorRecord[][], dimensions: number): Promise<boolean[]> {
  const held = new Map((await vectors.fieldRecords(wanted.flat().map((r) => r.id))).map((r) => [r.id, r]));
  const same = (want: VectorRecord): boolean => {
    const got = held.get(want.id);
    return (
      got !== undefined &&
      got.userId === want.userId &&
      got.documentId === want.documentId &&
      got.chunkIndex === want.chunkIndex &&
      got.content === want.content &&
      sameMetadata(got.metadata, want.metadata) &&
      got.dimensions === dimensions
    );
  };
  return wanted.map((records) => records.every(same));
}

/** Flat metadata (string, number, boolean or null values) with the same keys and values. */
function sameMetadata(a: Metadata | undefined, b: Metadata | undefined): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => Object.is((a ?? {})[k], (b ?? {})[k]));
}
