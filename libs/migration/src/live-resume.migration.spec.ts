import { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createRelationalDb, DocumentEntity, MigrationJobEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { spawnTs } from '../../../test/support/child';
import { freshDir, freshPostgres } from '../../../test/support/services';
import type { MigrationProgress } from './migration.types';
import type { ChildConfig } from './testing/migrate-child';
import { startWriter } from './testing/writer-process';
import { openRelational, openVector, profile, service } from './testing/fixtures';
import { all, seedCorpus, relationalDigest } from './testing/corpus';

const CHILD = path.join(__dirname, 'testing', 'migrate-child.ts');
const WRITER = path.join(__dirname, 'testing', 'knowledge-writer.ts');
const DIMS = 32;

const digest = relationalDigest;

/**
 * A live FULL_STACK job in its own process is killed with SIGKILL in the middle of its live part (during
 * the catch-up, and once frozen), while the dev app keeps writing; the job is resumed here. Nothing
 * written meanwhile may be missed (the capture stays while the job is dead), a source killed while frozen
 * stays frozen until the resumed run cuts over, and the end is CUT_OVER with both halves equal.
 */
describe.each<'catch-up' | 'freeze'>(['catch-up', 'freeze'])('a live FULL_STACK job killed during its %s phase resumes to a verified cutover (real processes, SIGKILL)', (phase) => {
  const dir = freshDir('sy-live-kill-');
  const relConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('dev.sqlite'), logging: false };
  const vecConfig: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('dev.sqlite'), dimensions: DIMS, collection: 'chunks' };
  let drop: () => Promise<void> = async () => undefined;
  let targetRel: RelationalDb;
  let targetVec: VectorDb;
  let targetRelConfig: RelationalDbConfig;
  let targetVecConfig: VectorDbConfig;

  beforeAll(async () => {
    const pg = await freshPostgres('livekill');
    drop = pg.drop;
    const dev = await openRelational(relConfig);
    const devVec = await openVector(vecConfig, 'test-hash');
    await seedCorpus(dev, devVec, 400);
    await devVec.close();
    await dev.close();
    targetRelConfig = { provider: 'postgres', logging: false, ...pg.connection };
    targetVecConfig = { provider: 'pgvector', connection: pg.connection, dimensions: DIMS, collection: 'chunks' } as VectorDbConfig;
    targetRel = await openRelational(targetRelConfig);
    targetVec = await openVector(targetVecConfig, 'test-hash');
  });

  afterAll(async () => {
    await targetVec?.close();
    await targetRel?.close();
    await drop();
    dir.remove();
  });

  it('misses no write, keeps the source frozen while dead if it was, and ends CUT_OVER with relational and vectors equal to the source', async () => {
    const writer = startWriter(WRITER, [JSON.stringify(relConfig), JSON.stringify(vecConfig), '31', '5']);
    const profiles = { source: profile('source', relConfig, vecConfig) };
    let child: { child: ChildProcess; output: () => string } | null = null;
    try {
      await writer.started(10, 30_000);
      const config: ChildConfig = {
        target: { relational: targetRelConfig, vector: targetVecConfig, model: 'test-hash' },
        profiles,
        dataDir: path.join(dir.dir, 'data'),
        staleAfterMs: 60_000,
        start: { kind: 'FULL_STACK', live: true, batchSize: 200, throttleMs: 30 },
      };
      child = spawnTs(CHILD, [JSON.stringify(config)]);
      const jobs = targetRel.repository(MigrationJobEntity);
      let jobId = '';
      for (let waited = 0; ; waited += 20) {
        const [job] = await jobs.find({ order: { createdAt: 'DESC' }, take: 1 });
        if (job && (job.progress as MigrationProgress | null)?.phase === phase) {
          jobId = job.id;
          break;
        }
        if (job && !['RUNNING', 'PENDING'].includes(job.status)) throw new Error(`the job ended ${job.status} (${job.error}) before its ${phase} phase`);
        if (waited > 120_000 || child.child.exitCode !== null) throw new Error(`no ${phase} phase seen: ${child.output().slice(-2000)}`);
        await sleep(20);
      }
      const exited = new Promise((r) => child!.child.once('exit', r));
      child.child.kill('SIGKILL');
      await exited;
      expect(child.child.signalCode).toBe('SIGKILL');

      // While the job is dead: captured writes accumulate (catch-up), or the source stays frozen (freeze).
      const before = writer.output().length;
      await sleep(600);
      const meanwhile = writer.output().slice(before);
      if (phase === 'freeze') {
        expect(meanwhile).toMatch(/^refused \S+ .*MAINTENANCE/m);
        expect(meanwhile).not.toMatch(/^ok /m);
      } else expect(meanwhile).toMatch(/^ok /m);

      // The same instance (host, boot) sees the process is gone and resumes at once.
      const svc = service({ target: { relational: targetRel, vector: targetVec }, profiles, dataDir: config.dataDir, defaultBatchSize: 200 });
      try {
        await svc.resume(jobId);
        const job = await svc.waitFor(jobId);
        expect([job.status, job.errorCode ?? null, job.error]).toEqual(['CUT_OVER', null, null]);
        expect(job.verification).toMatchObject({ ok: true, orphans: 0 });
        console.log(`live FULL_STACK killed during ${phase}, resumed: ${job.progress!.live!.rounds} round(s), ${job.progress!.live!.applied} change(s), freeze ${job.progress!.live!.freezeMs} ms`);
      } finally {
        await svc.close();
      }
      await writer.stop();
      expect(writer.otherRefusals()).toEqual([]);

      const source = createRelationalDb(relConfig, { readOnly: true });
      await source.init();
      const srcVec = await openVector(vecConfig, 'test-hash');
      try {
        expect(await digest(targetRel)).toEqual(await digest(source));
        const [a, b] = [await all(srcVec), await all(targetVec)];
        expect(b.size).toBe(a.size);
        expect([...b].filter(([id, h]) => a.get(id) !== h)).toEqual([]);
      } finally {
        await srcVec.close();
        await source.close();
      }
    } finally {
      if (child && child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
      if (writer.child.exitCode === null) writer.child.kill('SIGKILL');
    }
  }, 300_000);
});
