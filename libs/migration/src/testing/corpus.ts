import { HashEmbeddings } from '../../../embeddings/src/testing/hash-embeddings';
import { chunkId } from '@switchyard/knowledge';
import { DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb, VectorRecord } from '@switchyard/vector-db';
import { Checksum, rowHash, vectorHash } from '../checksum';

export const USERS = 30;
export const DOCS = 2000;
export const CHUNKS = 10; // 20,000 chunks

/** Every record of a store by id, as its hash. */
export async function all(db: VectorDb): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for await (const page of db.scan(2000)) for (const r of page) out.set(r.id, vectorHash(r));
  return out;
}

/** Users and `docCount` (default DOCS) documents with CHUNKS chunks each, written as the app writes them (row, chunk ids, embeddings of the text). */
export async function seedCorpus(rel: RelationalDb, vec: VectorDb, docCount = DOCS): Promise<void> {
  const embeddings = new HashEmbeddings();
  await rel.repository(UserEntity).insert(Array.from({ length: USERS }, (_, i) => ({ id: `u${String(i).padStart(4, '0')}`, roles: null, active: true })));
  for (let d0 = 0; d0 < docCount; d0 += 200) {
    const docs = Array.from({ length: Math.min(200, docCount - d0) }, (_, j) => d0 + j);
    await rel.repository(DocumentEntity).insert(
      docs.map((d) => ({ id: `doc-${d}`, userId: `u${String(d % USERS).padStart(4, '0')}`, externalId: `ext-${d}`, title: `t${d}`, content: `document ${d}`, contentBytes: Buffer.byteLength(`document ${d}`), chunkCount: CHUNKS, metadata: null, embeddingModel: embeddings.model, indexedAt: new Date() })),
    );
    const records: VectorRecord[] = [];
    for (const d of docs) {
      const userId = `u${String(d % USERS).padStart(4, '0')}`;
      const texts = Array.from({ length: CHUNKS }, (_, c) => `document ${d} chunk ${c}`);
      const vectors = await embeddings.embed(texts);
      texts.forEach((content, c) => records.push({ id: chunkId(userId, `ext-${d}`, c), userId, documentId: `ext-${d}`, chunkIndex: c, content, embedding: vectors[c], metadata: { title: `t${d}` } }));
    }
    await vec.upsert(records);
  }
}


/** Switchyard's users and documents of a relational database: row count and checksum of each. */
export async function relationalDigest(db: RelationalDb): Promise<Record<string, { rows: number; checksum: string }>> {
  const out: Record<string, { rows: number; checksum: string }> = {};
  for (const e of [UserEntity, DocumentEntity]) {
    const io = db.table(e);
    const sum = new Checksum();
    for await (const page of io.pages(2000)) for (const r of page) sum.add(rowHash(io, r));
    out[db.datasetName(e)] = { rows: sum.count, checksum: sum.hex };
  }
  return out;
}
