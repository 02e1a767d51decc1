import { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { MigrationJobEntity, MigrationLockEntity } from '@switchyard/relational-db';
import { spawnTs } from '../../../test/support/child';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { makeRecords } from '../../vector-db/src/testing/records';
import type { RaceConfig } from './testing/race-child';
import { openRelational, openVector, profile } from './testing/fixtures';

const CHILD = path.join(__dirname, 'testing', 'race-child.ts');

interface Outcome {
  jobId?: string;
  code?: string;
  message?: string;
}

/** Starts a racing child; resolves with its results once it has fired its starts. */
function race(config: RaceConfig): { ready: Promise<void>; results: Promise<Outcome[]>; exited: Promise<number | null>; child: ChildProcess } {
  const { child, output } = spawnTs(CHILD, [JSON.stringify(config)], ['pipe', 'pipe', 'pipe']);
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const wait = <T>(re: RegExp, pick: (m: RegExpExecArray) => T) =>
    new Promise<T>((resolve, reject) => {
      const onData = () => {
        const m = re.exec(output());
        if (m) resolve(pick(m));
      };
      child.stdout!.on('data', onData);
      void exited.then((code) => reject(new Error(`race child exited (${code}):\n${output()}`)));
    });
  return {
    child,
    exited,
    ready: wait(/\{"ready":true\}/, () => undefined),
    results: wait(/\{"results":(\[.*\])\}/, (m) => JSON.parse(m[1]) as Outcome[]),
  };
}

describe('one migration per target under a race (two real processes, 50 simultaneous starts)', () => {
  const dir = freshDir('sy-mig-lock-');
  let drop: () => Promise<void>;
  const liteVectors: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('source.sqlite'), dimensions: 8, collection: 'vector_embeddings' };
  const liteRel: RelationalDbConfig = { provider: 'sqlite', database: dir.file('source.sqlite'), logging: false };

  beforeAll(async () => {
    const pg = await freshPostgres('miglock');
    drop = pg.drop;
    const v = await openVector(liteVectors, 'model-l');
    await v.upsert(makeRecords(400, 8, { seed: 5, users: 2, prefix: 'l' }));
    await v.close();
    (globalThis as { pgConn?: unknown }).pgConn = pg.connection;
  });

  afterAll(async () => {
    await drop?.();
    dir.remove();
  });

  const targets: [string, () => { relational: RelationalDbConfig; vector: VectorDbConfig }][] = [
    [
      'PostgreSQL + pgvector',
      () => {
        const connection = (globalThis as { pgConn?: never }).pgConn!;
        return { relational: { provider: 'postgres', logging: false, ...(connection as object) } as RelationalDbConfig, vector: { provider: 'pgvector', connection, dimensions: 8, collection: 'race_vectors' } };
      },
    ],
    ['SQLite + sqlite-vec', () => ({ relational: { provider: 'sqlite', database: dir.file('target.sqlite'), logging: false }, vector: { provider: 'sqlite-vec', path: dir.file('target.sqlite'), dimensions: 8, collection: 'race_vectors' } })],
  ];

  it.each(targets)('into %s: exactly one start runs, every other one is refused with MIGRATION_LOCKED', async (_name, targetOf) => {
    const target = targetOf();
    const base = { target: { ...target, model: 'model-l' }, profiles: { source: profile('source', liteRel, liteVectors) }, dataDir: dir.file('data'), n: 25, start: { kind: 'VECTORS' as const, onConflict: 'SKIP' as const, batchSize: 20, throttleMs: 200 } };
    // the target exists (its schema migrated) before the race: the race is about the lock, not about boot
    const pre = [await openRelational(target.relational), await openVector(target.vector, 'model-l')];
    if (target.relational.provider === 'postgres') {
      // Widen every gap between recording a job and taking the lock (a test-only trigger that sleeps on each
      // job insert): a lock taken apart from its job would let a second start in.
      const db = pre[0] as unknown as { dataSource: { query(q: string): Promise<unknown> } };
      await db.dataSource.query(`CREATE OR REPLACE FUNCTION sy_test_slow() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$ LANGUAGE plpgsql`);
      await db.dataSource.query(`CREATE TRIGGER sy_test_slow BEFORE INSERT ON switchyard_migration_jobs FOR EACH ROW EXECUTE FUNCTION sy_test_slow()`);
    }
    for (const p of pre) await p.close();
    const x = race(base);
    const y = race(base);
    await Promise.all([x.ready, y.ready]);
    // both processes are connected and waiting: release them at the same moment
    x.child.stdin!.write('go\n');
    y.child.stdin!.write('go\n');
    const all = [...(await x.results), ...(await y.results)];
    // only now may the winner stop: while both raced, it was running
    x.child.stdin!.end('stop\n');
    y.child.stdin!.end('stop\n');
    await Promise.all([x.exited, y.exited]);
    const ran = all.filter((r) => r.jobId);
    const refused = all.filter((r) => !r.jobId);
    expect(all).toHaveLength(50);
    const rel = await openRelational(target.relational);
    try {
      const jobs = await rel.repository(MigrationJobEntity).find({ where: { kind: 'VECTORS' }, order: { startedAt: 'ASC' } });
      const story = jobs.map((j) => `${j.id} ${j.status} ${j.startedAt?.toISOString()}..${j.finishedAt?.toISOString()} ${j.error ?? ''}`).join('\n');
      // exactly one ran; the winner itself must not have failed (it keeps running until told to stop)
      expect({ ran: ran.length, story }).toEqual({ ran: 1, story: expect.stringMatching(/^\S+ CANCELLED /) });
      expect(refused.map((r) => r.code)).toEqual(Array(49).fill('MIGRATION_LOCKED'));
      // the lock was released when the winner was cancelled
      expect(await rel.repository(MigrationLockEntity).count()).toBe(0);
      await rel.repository(MigrationJobEntity).clear();
    } finally {
      await rel.close();
    }
  });
});
