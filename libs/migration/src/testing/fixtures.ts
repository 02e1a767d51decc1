import { ProviderProfile, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createRelationalDb, DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { createVectorDb, VectorDb } from '@switchyard/vector-db';
import { MigrationService } from '../migration.service';
import { MigrationDeps, MigrationJob } from '../migration.types';

/** Messages go nowhere (tests assert on job records, not logs). */
export const quietLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** A profile for a source: only the side a test uses matters; the other points at a dummy. */
export function profile(name: string, relational: RelationalDbConfig, vector: VectorDbConfig): ProviderProfile {
  return { name, relational, vector };
}

export async function openRelational(config: RelationalDbConfig): Promise<RelationalDb> {
  const db = createRelationalDb(config);
  await db.init();
  return db;
}

export async function openVector(config: VectorDbConfig, model: string | null): Promise<VectorDb> {
  const db = createVectorDb(config, model);
  await db.init();
  return db;
}

export function service(deps: Omit<MigrationDeps, 'defaultBatchSize' | 'logger'> & Partial<Pick<MigrationDeps, 'defaultBatchSize'>>): MigrationService {
  return new MigrationService({ defaultBatchSize: 500, logger: quietLogger, ...deps });
}

/** Users with every column type in use: nullable strings, JSON arrays, booleans, dates with milliseconds. */
export function users(n: number): UserEntity[] {
  return Array.from({ length: n }, (_, i) =>
    Object.assign(new UserEntity(), {
      id: `u${String(i).padStart(4, '0')}`,
      email: i % 4 === 0 ? null : `user${i}@exämple.org`,
      displayName: i % 3 === 0 ? null : `Ünïcødé Üser ${i} 👩‍💻`,
      roles: i % 5 === 0 ? null : i % 2 ? ['admin', 'reader'] : [],
      active: i % 2 === 0,
      createdAt: new Date(Date.UTC(2023, i % 12, 1 + (i % 27), 10, 11, 12, i % 1000)),
      updatedAt: new Date(Date.UTC(2024, 1, 2, 3, 4, 5, 678)),
    }),
  );
}

/** Documents with unicode, NULLs, nested JSON of several types, dates, and a few large texts. */
export function documents(n: number, userCount: number, opts: { bigEvery?: number } = {}): DocumentEntity[] {
  const bigEvery = opts.bigEvery ?? 2500;
  return Array.from({ length: n }, (_, i) => {
    const content = i % bigEvery === 1 ? `Large ✓ text ${i} `.repeat(40_000) : `Document ${i}: ŝtrange ✓ çharacters, "quotes", back\\slash and emoji 🚀 number ${i * 7919}.`;
    return Object.assign(new DocumentEntity(), {
      id: `d-${String(i).padStart(6, '0')}`,
      userId: `u${String(i % userCount).padStart(4, '0')}`,
      externalId: `ext-${i}`,
      title: i % 6 === 0 ? null : `Tïtle ${i}`,
      content,
      contentBytes: Buffer.byteLength(content, 'utf8'),
      chunkCount: i % 3,
      metadata: i % 4 === 0 ? null : { i, half: i / 2, even: i % 2 === 0, none: null, tags: ['x', i % 7], deep: { s: `ß${i}`, list: [{ a: 1 }, { b: false }] } },
      embeddingModel: i % 2 ? 'model-x' : null,
      indexedAt: i % 2 ? new Date(Date.UTC(2025, 2, 3, 4, 5, 6, i % 1000)) : null,
      createdAt: new Date(Date.UTC(2024, 0, 1, 0, 0, 0, 0) + i * 1000 + 7),
      updatedAt: new Date(Date.UTC(2024, 6, 1, 0, 0, 0, 0) + i * 997),
    });
  });
}

export async function seedRelational(db: RelationalDb, nUsers: number, nDocs: number): Promise<void> {
  await db.insertRows(UserEntity, users(nUsers), 'error');
  const docs = documents(nDocs, nUsers);
  for (let i = 0; i < docs.length; i += 2000) await db.insertRows(DocumentEntity, docs.slice(i, i + 2000), 'error');
}

/** Waits for the job and fails the test with the job's error if it did not succeed. */
export async function succeeded(svc: MigrationService, job: MigrationJob | Promise<MigrationJob>): Promise<MigrationJob> {
  const done = await svc.waitFor((await job).id);
  if (done.status !== 'SUCCEEDED' && done.status !== 'PLANNED') throw new Error(`job ${done.id} ended ${done.status}: ${done.errorCode}: ${done.error}`);
  return done;
}
