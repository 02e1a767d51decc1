import type { Metadata } from '../vector-db.types';

/**
 * How Switchyard's records sit in a Chroma collection, shared by the server driver (chromadb.driver.ts)
 * and the persist-directory reader (chroma-persist.driver.ts). Internal: not exported from the package
 * (its types stay free of chromadb's).
 */

/** A record's metadata as Chroma holds it (string, number, boolean values). */
export type ChromaRecordMetadata = Readonly<Record<string, unknown>>;

/**
 * Reserved metadata keys: the record's fields, the exact user metadata as JSON (Chroma drops nulls and
 * rounds some floats in its native metadata, which is still written for filtering), and the exact vector.
 */
export const CHROMA_KEYS = { user: 'userId', doc: 'documentId', chunk: 'chunkIndex', meta: '__sy_meta', f32: '__sy_f32' } as const;
export const CHROMA_META = { dims: 'switchyard:dimensions', model: 'switchyard:model', metric: 'hnsw:space' } as const;
const K = CHROMA_KEYS;
/** The keys Switchyard reserves in a record's metadata. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set<string>(Object.values(K));

/** The exact vector written, if recorded and consistent with what Chroma holds; else Chroma's. */
export function embeddingOf(m: ChromaRecordMetadata | null, stored: ArrayLike<number> | null | undefined): Float32Array {
  const fromChromaVec = Float32Array.from(stored ?? []);
  const raw = m?.[K.f32];
  if (typeof raw !== 'string') return fromChromaVec;
  const b = Buffer.from(raw, 'base64');
  const exact = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  if (exact.length !== fromChromaVec.length) return fromChromaVec;
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < exact.length; i++) (dot += exact[i] * fromChromaVec[i]), (na += exact[i] ** 2), (nb += fromChromaVec[i] ** 2);
  return na > 0 && nb > 0 && dot / Math.sqrt(na * nb) > 0.9999 ? exact : fromChromaVec;
}

export function fromChroma(id: string, content: string | null, m: ChromaRecordMetadata | null) {
  const src = m ?? {};
  let meta: Metadata = {};
  if (typeof src[K.meta] === 'string') meta = JSON.parse(src[K.meta] as string) as Metadata;
  else {
    for (const [k, v] of Object.entries(src)) {
      if (!RESERVED_KEYS.has(k) && (v === null || ['string', 'number', 'boolean'].includes(typeof v))) meta[k] = v as Metadata[string];
    }
  }
  // Collections written by other tools (the seed guide's) may use snake_case and keep no chunk index.
  const userId = String(src[K.user] ?? src.user_id ?? '');
  const documentId = String(src[K.doc] ?? src.document_id ?? '');
  for (const k of ['user_id', 'document_id']) delete meta[k];
  return { id, userId, documentId, chunkIndex: Number(src[K.chunk] ?? 0), content: content ?? String(src.content ?? ''), metadata: meta };
}

