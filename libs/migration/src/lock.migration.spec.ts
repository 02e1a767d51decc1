import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { MigrationJobEntity, MigrationLockEntity } from '@switchyard/relational-db';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { makeRecords } from '../../vector-db/src/testing/records';
import type { RaceConfig } from './testing/race-child';
import { openRelational, openVector, profile } from './testing/fixtures';

const ROOT = path.resolve(__dirname, '../../..');
const CHILD = path.join(__dirname, 'testing', 'race-child.ts');

interface Outcome {
  jobId?: string;
  code?: string;
  message?: string;
}

/** Starts a racing child; resolves with its results once it has fired its starts. */
function race(config: RaceConfig): { ready: Promise<void>; results: Promise<Outcome[]>; exited: Promise<number | null>; child: ChildProcess } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', CHILD, JSON.stringify(config)], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const wait = <T>(re: RegExp, pick: (m: RegExpExecArray) => T) =>
    new Promise<T>((resolve, reject) => {
      const onData = () => {
        const m = re.exec(out);
        if (m) resolve(pick(m));
      };
      child.stdout!.on('data', onData);
      void exited.then((code) => reject(new Error(`race child exited (${code}):\n${out}`)));
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
    for (const p of pre) await p.close();
    const x = race(base);
    const y = race(base);
    await Promise.all([x.ready, y.ready]);
    // both processes are connected and waiting: release them at the same moment
    x.child.stdin!.write('go\n');
    y.child.stdin!.write('go\n');
    const all = [...(await x.results), ...(await y.results)];
    await Promise.all([x.exited, y.exited]);
    const ran = all.filter((r) => r.jobId);
    const refused = all.filter((r) => !r.jobId);
    expect(all).toHaveLength(50);
    expect(ran).toHaveLength(1);
    expect(refused.map((r) => r.code)).toEqual(Array(49).fill('MIGRATION_LOCKED'));
    const rel = await openRelational(target.relational);
    try {
      // only the winner was ever recorded; the lock was released when it was cancelled
      expect(await rel.repository(MigrationJobEntity).countBy({ kind: 'VECTORS' })).toBe(1);
      expect(await rel.repository(MigrationLockEntity).count()).toBe(0);
      await rel.repository(MigrationJobEntity).clear();
    } finally {
      await rel.close();
    }
  });
});
