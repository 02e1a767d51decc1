import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { VectorDbConfig } from '@switchyard/core';
import { ChangeCapture, RelationalDb, VectorFreezeRepository } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { startStallProxy, StallProxy } from '../../../test/support/stall-proxy';
import type { MigrationJob } from './migration.types';
import type { MigrationService } from './migration.service';
import { startWriter, WriterProcess } from './testing/writer-process';
import { openRelational, openVector, profile, service } from './testing/fixtures';
import { all, seedCorpus } from './testing/corpus';

const WRITER = path.join(__dirname, 'testing', 'knowledge-writer.ts');
const LIMIT_MS = 1500;

/**
 * The source vector store stops answering (a stalling TCP proxy in front of the real Chroma server) while
 * a live VECTORS job catches up, and an app instance keeps writing: the job must end FAILED with
 * PROVIDER_UNAVAILABLE within its limit (not hang, never a success), the source must take writes again
 * with the job's capture still on it, and a resume once Chroma answers again must miss none of the writes
 * made while the job was stopped. Once the capture is removed (unfreeze), a resume is refused: only a
 * run from the start is correct then.
 */
describe('live VECTORS job, the source Chroma stalls during catch-up (real PostgreSQL, real Chroma behind a stalling proxy)', () => {
  const dir = freshDir('sy-live-stall-');
  let drop: () => Promise<void>;
  let rel: RelationalDb;
  let src: VectorDb;
  let tgt: VectorDb;
  let proxy: StallProxy;
  let direct: VectorDbConfig;
  let svc: MigrationService;
  let writer: WriterProcess | undefined;

  beforeAll(async () => {
    const pg = await freshPostgres('lstall');
    drop = pg.drop;
    const relConfig = { provider: 'postgres' as const, logging: false, ...pg.connection };
    rel = await openRelational(relConfig);
    direct = { provider: 'chromadb', url: serviceEnv('TEST_CHROMA_URL'), dimensions: 32, collection: `stall_${randomBytes(4).toString('hex')}` };
    src = await openVector(direct, 'test-hash');
    await seedCorpus(rel, src, 200);
    tgt = await openVector({ provider: 'pgvector', connection: pg.connection, dimensions: 32, collection: 'chunks_new' }, 'test-hash');
    const u = new URL(direct.url);
    proxy = await startStallProxy({ host: u.hostname, port: Number(u.port) });
    // The migration reaches the source store through the proxy; the app instance talks to Chroma directly.
    const through: VectorDbConfig = { ...direct, url: proxy.url('http'), timeoutMs: LIMIT_MS };
    svc = service({ target: { relational: rel, vector: tgt }, profiles: { source: profile('source', relConfig, through) }, dataDir: path.join(dir.dir, 'data'), defaultBatchSize: 200 });
    writer = startWriter(WRITER, [JSON.stringify(relConfig), JSON.stringify(direct), '23', '10']);
    await writer.started(10, 30_000);
  });

  afterAll(async () => {
    proxy?.resume();
    await writer?.stop();
    await svc?.close();
    await proxy?.close();
    await src?.reset().catch(() => undefined);
    for (const c of [src, tgt, rel]) await c?.close().catch(() => undefined);
    await drop?.();
    dir.remove();
  });

  /** Starts (or resumes) a job and stalls the proxy once the job is in its catch-up; resolves with the end and how long after the stall it came. */
  async function stallDuringCatchUp(begin: () => Promise<MigrationJob>): Promise<{ job: MigrationJob; afterStallMs: number }> {
    const started = await begin();
    let stalledAt = 0;
    const off = svc.subscribe(started.id, (j) => {
      if (!stalledAt && j.progress?.phase === 'catch-up') {
        stalledAt = Date.now();
        proxy.stall();
      }
    });
    const job = await svc.waitFor(started.id);
    off();
    expect(stalledAt).toBeGreaterThan(0);
    return { job, afterStallMs: Date.now() - stalledAt };
  }

  async function writesAccepted(n: number): Promise<void> {
    const from = writer!.oks();
    for (let waited = 0; writer!.oks() < from + n; waited += 50) {
      if (waited > 30_000) throw new Error(`the app made ${writer!.oks() - from} writes in 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('fails with PROVIDER_UNAVAILABLE within its limit, the source takes writes again and keeps the capture; resumed, it misses none of them', async () => {
    const { job, afterStallMs } = await stallDuringCatchUp(() => svc.start({ kind: 'VECTORS', source: 'source', live: true, throttleMs: 5 }));
    console.log(`live VECTORS, source Chroma stalled during catch-up: ${job.status} ${job.errorCode} ${afterStallMs} ms after the stall (VECTOR_DB_TIMEOUT_MS ${LIMIT_MS})`);
    expect([job.status, job.errorCode]).toEqual(['FAILED', 'PROVIDER_UNAVAILABLE']);
    expect(job.error).toMatch(/chromadb/);
    expect(job.error).toMatch(/keeps this job's change capture/);
    // The source is not frozen and still captured: the app's writes go on and are recorded.
    expect(await new VectorFreezeRepository(rel).isFrozen(await src.identity())).toBe(false);
    expect(await new ChangeCapture(rel, [], null).owner()).toBe(job.id);
    await writesAccepted(20);

    proxy.resume();
    await svc.resume(job.id);
    const done = await svc.waitFor(job.id);
    expect([done.status, done.errorCode ?? null, done.error]).toEqual(['CUT_OVER', null, null]);
    expect(done.verification).toMatchObject({ ok: true, orphans: 0 });
    // The target equals the frozen source record for record, writes made while the job was stopped included.
    const [a, b] = [await all(src), await all(tgt)];
    expect(b.size).toBe(a.size);
    expect([...b].filter(([id, h]) => a.get(id) !== h)).toEqual([]);
    expect(writer!.otherRefusals()).toEqual([]);
  }, 240_000);

  it('a resume after the capture was removed (unfreeze) is refused; resume with overwrite runs again from the start to a verified cutover', async () => {
    expect(await svc.unfreeze('source')).toBe(true); // roll back to the source: the app writes there again
    await writesAccepted(10);
    const { job } = await stallDuringCatchUp(() => svc.start({ kind: 'VECTORS', source: 'source', live: true, onConflict: 'TRUNCATE', throttleMs: 5 }));
    expect([job.status, job.errorCode]).toEqual(['FAILED', 'PROVIDER_UNAVAILABLE']);
    proxy.resume();
    await svc.unfreeze('source'); // the capture of a job that is not running goes
    expect(await new ChangeCapture(rel, [], null).owner()).toBeNull();
    await writesAccepted(10); // not captured
    await expect(svc.resume(job.id)).rejects.toMatchObject({ code: 'MIGRATION_STATE', message: expect.stringMatching(/capture was removed/) });
    await svc.resume(job.id, { overwrite: true });
    const done = await svc.waitFor(job.id);
    expect([done.status, done.errorCode ?? null, done.error]).toEqual(['CUT_OVER', null, null]);
    const [a, b] = [await all(src), await all(tgt)];
    expect(b.size).toBe(a.size);
    expect([...b].filter(([id, h]) => a.get(id) !== h)).toEqual([]);
  }, 240_000);
});
