import { chunkId } from '@switchyard/knowledge';
import { DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import type { VectorDb, VectorRecord } from '@switchyard/vector-db';
import { documents, users } from '../../libs/migration/src/testing/fixtures';
import { Prng } from './prng';

/** What one deployment holds: users, their documents, and the documents' chunk vectors. */
export interface Deployment {
  users: UserEntity[];
  documents: DocumentEntity[];
  vectors: VectorRecord[];
}

export const DIMS = 32;
export const MODEL = 'model-faults';

/**
 * A consistent deployment: `docs` documents of `nUsers` users (every column type in use, a few large
 * texts: the migration fixtures), and `vectors` chunks spread over the documents, each naming its
 * document's user and external id, with seeded embeddings.
 */
export function deployment(rng: Prng, o: { docs: number; users: number; vectors: number }): Deployment {
  const us = users(o.users);
  const docs = documents(o.docs, o.users);
  return { users: us, documents: docs, vectors: chunksOf(rng, docs, o.vectors, '') };
}

/**
 * What a target held before the migration (to be replaced under TRUNCATE): other values under some of
 * the same ids, and ids the source does not have, whose vectors name documents the new data lacks.
 */
export function oldDeployment(rng: Prng, o: { docs: number; users: number; vectors: number }): Deployment {
  const us = users(o.users + 3).map((u, i) => Object.assign(u, { id: i < o.users ? u.id : `old-u${i}`, displayName: `old user ${i}`, active: !u.active }));
  const docs = documents(o.docs, o.users).map((d, i) =>
    Object.assign(d, { id: i % 2 ? d.id : `old-${d.id}`, externalId: `old-ext-${i}`, title: `old title ${i}`, content: `old content ${i}`, contentBytes: Buffer.byteLength(`old content ${i}`) }),
  );
  return { users: us, documents: docs, vectors: chunksOf(rng, docs, o.vectors, 'old ') };
}

function chunksOf(rng: Prng, docs: DocumentEntity[], n: number, tag: string): VectorRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const d = docs[i % docs.length];
    const chunk = Math.floor(i / docs.length);
    return {
      id: chunkId(d.userId, d.externalId, chunk),
      userId: d.userId,
      documentId: d.externalId,
      chunkIndex: chunk,
      content: `${tag}chunk ${chunk} of ${d.externalId}: ünïcødé ✓ ${rng.int(0, 1e9)}`,
      embedding: rng.unitVector(DIMS),
      metadata: { title: d.title ?? null, i, ratio: i / 7, even: i % 2 === 0 },
    };
  });
}

/** Writes the relational part (users first: documents name them). */
export async function seedRelational(db: RelationalDb, d: Deployment): Promise<void> {
  for (let i = 0; i < d.users.length; i += 2000) await db.insertRows(UserEntity, d.users.slice(i, i + 2000), 'error');
  for (let i = 0; i < d.documents.length; i += 2000) await db.insertRows(DocumentEntity, d.documents.slice(i, i + 2000), 'error');
}

export async function seedVectors(db: VectorDb, d: Deployment): Promise<void> {
  for (let i = 0; i < d.vectors.length; i += 1000) await db.upsert(d.vectors.slice(i, i + 1000));
}
