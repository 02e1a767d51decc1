import { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { DocumentEntity, MigrationCheckpointEntity, MigrationLockEntity, RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { spawnTs } from '../../../test/support/child';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { makeRecords } from '../../vector-db/src/testing/records';
import { MigrationService } from './migration.service';
import { MigrationJob, StartMigrationInput } from './migration.types';
import type { ChildConfig } from './testing/migrate-child';
import { openRelational, openVector, profile, seedRelational, service, succeeded } from './testing/fixtures';

const CHILD = path.join(__dirname, 'testing', 'migrate-child.ts');
const STALE_MS = 1500;

/** Starts a job in a real child process; resolves with the job id once the child has started it. */
function startChild(config: ChildConfig): Promise<{ child: ChildProcess; jobId: string; output: () => string }> {
  const { child, output } = spawnTs(CHILD, [JSON.stringify(config)]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start a job in time:\n${output()}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before starting a job:\n${output()}`)));
    child.stdout!.on('data', () => {
      const m = /\{"jobId":"([^"]+)"\}/.exec(output());
      if (!m) return;
      clearTimeout(timer);
      resolve({ child, jobId: m[1], output });
    });
  });
}

/** Waits until the job has committed at least `batches` checkpointed batches, then kills the process with SIGKILL. */
async function killAfter(db: RelationalDb, run: { child: ChildProcess; jobId: string; output: () => string }, minDone: number): Promise<number> {
  const repo = db.repository(MigrationCheckpointEntity);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const done = (await repo.find({ where: { jobId: run.jobId } })).reduce((n, c) => n + c.done, 0);
    if (done >= minDone) break;
    if (run.child.exitCode !== null) throw new Error(`child finished before it could be killed:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`no progress from the child:\n${run.output()}`);
    await sleep(25);
  }
  const exited = new Promise((r) => run.child.once('exit', r));
  run.child.kill('SIGKILL');
  await exited;
  expect(run.child.signalCode).toBe('SIGKILL');
  return (await repo.find({ where: { jobId: run.jobId } })).reduce((n, c) => n + c.done, 0);
}

/**
 * Runs `fn` with a document row in `db` for every (user, document) of the test vectors (a VECTORS job checks
 * that each vector's document exists in the target's relational database), removed again afterwards.
 */
async function withTheirDocuments<T>(db: RelationalDb, fn: () => Promise<T>): Promise<T> {
  const keys = new Map(makeRecords(4000, 16, { seed: 3, users: 3, prefix: 'v' }).map((r) => [`${r.userId}/${r.documentId}`, r]));
  const rows = [...keys.values()].map((r, i) => ({ id: `vd-${i}`, userId: r.userId, externalId: r.documentId, content: '', contentBytes: 0, chunkCount: 10 }));
  for (let i = 0; i < rows.length; i += 500) await db.repository(DocumentEntity).insert(rows.slice(i, i + 500));
  try {
    return await fn();
  } finally {
    await db.repository(DocumentEntity).delete(rows.map((r) => r.id));
  }
}

/** Resumes a killed job in this process; returns it finished and the `done` of its first reported batch. */
async function resumeKilled(svc: MigrationService, jobId: string, killedAt: number): Promise<{ job: MigrationJob; firstDone: number }> {
  let firstDone = -1;
  const off = svc.subscribe(jobId, (j) => {
    if (firstDone < 0 && j.progress && j.progress.done > 0) firstDone = j.progress.done;
  });
  await svc.resume(jobId);
  const job = await succeeded(svc, svc.waitFor(jobId));
  off();
  expect(firstDone).toBeGreaterThan(killedAt);
  return { job, firstDone };
}

describe('resume after SIGKILL (real child process, real servers)', () => {
  const dir = freshDir('sy-mig-resume-');
  const dataDir = path.join(dir.dir, 'data');
  let drop: () => Promise<void>;
  let pgRelConfig: Extract<RelationalDbConfig, { provider: 'postgres' }>;
  let pgVecConfig: VectorDbConfig;
  let rel: RelationalDb;
  let vec: VectorDb;
  const sqliteConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('source.sqlite'), logging: false };
  const liteVectors: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('source.sqlite'), dimensions: 16, collection: 'vector_embeddings' };
  const profiles = () => ({ source: profile('source', sqliteConfig, liteVectors) });
  let svc: MigrationService;

  const childConfig = (start: StartMigrationInput): ChildConfig => ({
    target: { relational: pgRelConfig, vector: pgVecConfig, model: 'model-r' },
    profiles: profiles(),
    dataDir,
    staleAfterMs: STALE_MS,
    start,
  });

  beforeAll(async () => {
    const pg = await freshPostgres('migresume');
    drop = pg.drop;
    pgRelConfig = { provider: 'postgres', logging: false, ...pg.connection };
    pgVecConfig = { provider: 'pgvector', connection: pg.connection, dimensions: 16, collection: 'vector_embeddings' };
    const src = await openRelational(sqliteConfig);
    await seedRelational(src, 50, 6000);
    await src.close();
    const srcVec = await openVector(liteVectors, 'model-r');
    await srcVec.upsert(makeRecords(4000, 16, { seed: 3, users: 3, prefix: 'v' }));
    await srcVec.close();
    rel = await openRelational(pgRelConfig);
    vec = await openVector(pgVecConfig, 'model-r');
    svc = service({ target: { relational: rel, vector: vec }, profiles: profiles(), dataDir, staleAfterMs: STALE_MS });
  });

  afterAll(async () => {
    await svc?.close();
    await vec?.close();
    await rel?.close();
    await drop?.();
    dir.remove();
  });

  it('a relational copy killed mid-run continues from its checkpoint: no duplicate, no loss, same checksums', async () => {
    const run = await startChild(childConfig({ kind: 'RELATIONAL', batchSize: 200, throttleMs: 40 }));
    const killedAt = await killAfter(rel, run, 50 + 1000);
    expect(killedAt).toBeLessThan(50 + 6000);
    const partial = await rel.repository(DocumentEntity).count();
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(6000);

    // the dead job still holds the target: a new start is refused and told to resume it
    await expect(svc.start({ kind: 'RELATIONAL', onConflict: 'SKIP' })).rejects.toMatchObject({ code: 'MIGRATION_LOCKED', message: expect.stringContaining(run.jobId) });
    await sleep(STALE_MS + 200);
    await expect(svc.start({ kind: 'RELATIONAL', onConflict: 'SKIP' })).rejects.toMatchObject({ code: 'MIGRATION_LOCKED', message: expect.stringMatching(/stopped sending heartbeats.*resume it/) });

    // a dead job can also be cancelled: that frees the target, and it stays resumable
    expect(await svc.get(run.jobId)).toMatchObject({ status: 'RUNNING', stale: true });
    expect(await svc.cancel(run.jobId)).toMatchObject({ status: 'CANCELLED', errorCode: 'CANCELLED' });
    expect(await rel.repository(MigrationLockEntity).count()).toBe(0);

    const { job } = await resumeKilled(svc, run.jobId, killedAt);
    expect(job.verification).toMatchObject({ ok: true });
    expect(job.verification!.tables.map((t) => [t.name, t.sourceCount, t.targetCount, t.checksumMatch])).toEqual([
      ['users', 50, 50, true],
      ['documents', 6000, 6000, true],
    ]);
    expect(job.progress!.steps.map((s) => [s.name, s.read])).toEqual([
      ['users', 50],
      ['documents', 6000],
    ]);
    // finished: running it again changes nothing
    expect((await svc.resume(run.jobId)).finishedAt).toEqual(job.finishedAt);
  });

  it('a vector copy killed mid-run (HNSW dropped for the load) continues from its checkpoint and is verified equal', () => withTheirDocuments(rel, async () => {
    const run = await startChild(childConfig({ kind: 'VECTORS', batchSize: 200, throttleMs: 40 }));
    const killedAt = await killAfter(rel, run, 800);
    expect(killedAt).toBeLessThan(4000);
    expect((await svc.get(run.jobId)).stale).toBe(false);
    await sleep(STALE_MS + 200);
    expect(await svc.get(run.jobId)).toMatchObject({ status: 'RUNNING', stale: true });
    const { job } = await resumeKilled(svc, run.jobId, killedAt);
    expect(job.verification).toMatchObject({ ok: true, tables: [{ sourceCount: 4000, targetCount: 4000, checksumMatch: true }] });
    expect(job.verification!.recallAt10).toBeGreaterThanOrEqual(0.9);
    expect(job.verification!.orphans).toBe(0);
    expect(await vec.count()).toBe(4000);
  }));

  it('a process thought dead (frozen with SIGSTOP) whose job was resumed elsewhere stops at its next batch without touching the job', async () => {
    const run = await startChild(childConfig({ kind: 'RELATIONAL', onConflict: 'OVERWRITE', batchSize: 200, throttleMs: 40 }));
    const repo = rel.repository(MigrationCheckpointEntity);
    while ((await repo.find({ where: { jobId: run.jobId } })).reduce((n, c) => n + c.done, 0) < 1000) await sleep(25);
    run.child.kill('SIGSTOP');
    await sleep(STALE_MS + 300);
    expect((await svc.get(run.jobId)).stale).toBe(true);
    await svc.resume(run.jobId);
    run.child.kill('SIGCONT');
    const job = await succeeded(svc, svc.waitFor(run.jobId));
    expect(job.verification?.ok).toBe(true);
    const exit = await new Promise<number | null>((r) => (run.child.exitCode !== null ? r(run.child.exitCode) : run.child.once('exit', r)));
    expect(exit).toBe(0);
    // the frozen process noticed the takeover: it neither failed the job nor released its lock, it waited for the new owner
    expect(run.output()).toContain('another process resumed this job');
    expect(run.output()).toContain('"status":"SUCCEEDED"');
    expect((await svc.get(run.jobId)).status).toBe('SUCCEEDED');
  });

  it('a restarted instance resumes its own dead job at once (same instance and boot, process gone), without waiting for the heartbeat', () => withTheirDocuments(rel, async () => {
    // staleAfterMs of a minute: only the owner rule can let this resume happen now
    const patient = service({ target: { relational: rel, vector: vec }, profiles: profiles(), dataDir, staleAfterMs: 60_000 });
    const elsewhere = service({ target: { relational: rel, vector: vec }, profiles: profiles(), dataDir, staleAfterMs: 60_000, instanceId: 'another-host' });
    try {
      const run = await startChild(childConfig({ kind: 'VECTORS', onConflict: 'OVERWRITE', batchSize: 200, throttleMs: 40 }));
      const killedAt = await killAfter(rel, run, 800);
      expect((await patient.get(run.jobId)).stale).toBe(false);
      // another instance cannot know the process is gone: it must wait for the heartbeat to go stale
      await expect(elsewhere.resume(run.jobId)).rejects.toMatchObject({ code: 'MIGRATION_STATE', message: expect.stringContaining('running in another process') });
      await expect(patient.start({ kind: 'VECTORS', onConflict: 'SKIP' })).rejects.toMatchObject({ code: 'MIGRATION_LOCKED', message: expect.stringMatching(/its process .* is gone: resume it/) });
      const { job } = await resumeKilled(patient, run.jobId, killedAt);
      expect(job.verification).toMatchObject({ ok: true });
      expect(await vec.count()).toBe(4000);
    } finally {
      await patient.close();
      await elsewhere.close();
    }
  }));

  it('a run taken over while it takes its backup (frozen with SIGSTOP) never empties the target afterwards (fencing)', async () => {
    const before = await rel.repository(DocumentEntity).count();
    expect(before).toBe(6000);
    const run = await startChild(childConfig({ kind: 'RELATIONAL', onConflict: 'TRUNCATE', batchSize: 200, throttleMs: 40 }));
    let phase: string | undefined;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(5)) {
      phase = (await svc.get(run.jobId)).progress?.phase;
      if (phase === 'backup' || phase === 'truncate' || phase === 'copy') break;
    }
    run.child.kill('SIGSTOP');
    expect(['backup', 'truncate']).toContain(phase);
    const frozenAt = await rel.repository(DocumentEntity).count();
    await sleep(STALE_MS + 300);
    await svc.resume(run.jobId);
    const job = await succeeded(svc, svc.waitFor(run.jobId));
    expect(job.verification?.ok).toBe(true);
    // the frozen run wakes up in the middle of its backup / truncate: it must notice it lost the job and stop
    run.child.kill('SIGCONT');
    const exit = await new Promise<number | null>((r) => (run.child.exitCode !== null ? r(run.child.exitCode) : run.child.once('exit', r)));
    expect(exit).toBe(0);
    expect(run.output()).toMatch(/another process|no longer this run's|belongs to another run/);
    expect(frozenAt).toBeGreaterThan(0);
    expect(await rel.repository(DocumentEntity).count()).toBe(6000);
    expect((await svc.verify({ kind: 'RELATIONAL' })).ok).toBe(true);
    const done = await svc.get(run.jobId);
    expect(done.status).toBe('SUCCEEDED');
    // and the backup the job recorded still holds what the target held before (the woken run did not replace it)
    for (const b of done.backups) expect(await rel.countTable(b.name)).toBe(b.step === 'documents' ? 6000 : 50);
  });
});
