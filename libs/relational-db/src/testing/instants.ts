import { DocumentEntity, MigrationCheckpointEntity, MigrationJobEntity, MigrationLockEntity, UserEntity } from '../entities';
import { RelationalDb } from '../relational-db.port';

/**
 * Test rows that carry instants in every date column of every table, written and read through a
 * RelationalDb (the cross-time-zone and upgrade tests, and tz-child.ts).
 */

/** Row name -> epoch ms of every date column, e.g. `doc:A-0:indexedAt`. */
export type Instants = Record<string, number | null>;

const ms = (d: Date | null | undefined) => (d ? d.getTime() : null);

export async function writeInstants(db: RelationalDb, tag: string, instants: number[]): Promise<void> {
  const docs = instants.map((t, i) =>
    Object.assign(new DocumentEntity(), {
      id: `${tag}-${i}`,
      userId: `${tag}-${i}`,
      externalId: `${tag}-${i}`,
      title: null,
      content: 'x',
      contentBytes: 1,
      chunkCount: 0,
      metadata: null,
      embeddingModel: null,
      indexedAt: new Date(t),
      createdAt: new Date(t),
      updatedAt: new Date(t),
    }),
  );
  // The bulk path (PostgreSQL: COPY) and the ordinary INSERT path both carry dates.
  await db.insertRows(DocumentEntity, docs, 'error');
  for (const [i, t] of instants.entries()) {
    const id = `${tag}-${i}`;
    await db.repository(UserEntity).insert({ id, roles: null, active: true, createdAt: new Date(t), updatedAt: new Date(t) });
    await db.repository(MigrationJobEntity).insert({
      id,
      kind: 'RELATIONAL',
      status: 'RUNNING',
      source: 's',
      target: 't',
      dryRun: false,
      onConflict: 'error',
      batchSize: 1,
      options: null,
      error: null,
      startedAt: new Date(t),
      finishedAt: new Date(t),
      heartbeatAt: new Date(t),
      createdAt: new Date(t),
      updatedAt: new Date(t),
    });
    await db.repository(MigrationCheckpointEntity).insert({ jobId: id, step: 'users', cursor: null, updatedAt: new Date(t) });
    await db.repository(MigrationLockEntity).insert({ target: id, jobId: id, acquiredAt: new Date(t) });
  }
  // A stamp the database generates itself (column default), written under this process's TZ.
  await db.repository(UserEntity).insert({ id: `${tag}-generated`, roles: null, active: true });
}

export async function readInstants(db: RelationalDb, tag: string, count: number): Promise<Instants> {
  const out: Instants = {};
  for (let i = 0; i < count; i++) {
    const id = `${tag}-${i}`;
    const d = await db.repository(DocumentEntity).findOneByOrFail({ id });
    const u = await db.repository(UserEntity).findOneByOrFail({ id });
    const j = await db.repository(MigrationJobEntity).findOneByOrFail({ id });
    const c = await db.repository(MigrationCheckpointEntity).findOneByOrFail({ jobId: id });
    const l = await db.repository(MigrationLockEntity).findOneByOrFail({ target: id });
    Object.assign(out, {
      [`doc:${id}:indexedAt`]: ms(d.indexedAt),
      [`doc:${id}:createdAt`]: ms(d.createdAt),
      [`doc:${id}:updatedAt`]: ms(d.updatedAt),
      [`user:${id}:createdAt`]: ms(u.createdAt),
      [`user:${id}:updatedAt`]: ms(u.updatedAt),
      [`job:${id}:startedAt`]: ms(j.startedAt),
      [`job:${id}:finishedAt`]: ms(j.finishedAt),
      [`job:${id}:heartbeatAt`]: ms(j.heartbeatAt),
      [`job:${id}:createdAt`]: ms(j.createdAt),
      [`job:${id}:updatedAt`]: ms(j.updatedAt),
      [`checkpoint:${id}:updatedAt`]: ms(c.updatedAt),
      [`lock:${id}:acquiredAt`]: ms(l.acquiredAt),
    });
  }
  out[`user:${tag}-generated:createdAt`] = ms((await db.repository(UserEntity).findOneByOrFail({ id: `${tag}-generated` })).createdAt);
  return out;
}


/** What readInstants must return for rows written by writeInstants (the generated stamp aside). */
export function expectedInstants(tag: string, instants: number[]): Instants {
  const out: Instants = {};
  for (const [i, t] of instants.entries()) {
    const id = `${tag}-${i}`;
    for (const col of ['doc:indexedAt', 'doc:createdAt', 'doc:updatedAt', 'user:createdAt', 'user:updatedAt', 'job:startedAt', 'job:finishedAt', 'job:heartbeatAt', 'job:createdAt', 'job:updatedAt', 'checkpoint:updatedAt', 'lock:acquiredAt']) {
      const [table, column] = col.split(':');
      out[`${table}:${id}:${column}`] = t;
    }
  }
  return out;
}
