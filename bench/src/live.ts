/**
 * live: a FULL_STACK live migration (SQLite + sqlite-vec -> PostgreSQL + pgvector) of N documents x 10
 * chunks while a second process (the dev app: KnowledgeService on the source) keeps indexing,
 * re-indexing and deleting documents. Reports what an operator plans around: catch-up rounds, changes
 * applied, and how long the source was frozen.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createRelationalDb } from '@switchyard/relational-db';
import { createVectorDb } from '@switchyard/vector-db';
import { MigrationService } from '@switchyard/migration';
import { CHUNKS, seedCorpus } from '../../libs/migration/src/testing/corpus';
import { log, now, quietLogger, report, since, toConnection } from './common';

const DIMS = 32; // the writer's embeddings (a hash of the text): the subject is the capture and the freeze, not the model

const configs = (sqlite: string) => ({
  relational: { provider: 'sqlite', database: sqlite, logging: false } as RelationalDbConfig,
  vector: { provider: 'sqlite-vec', path: sqlite, dimensions: DIMS, collection: 'chunks' } as VectorDbConfig,
});

/** The dev stack: users, documents and their chunks in one SQLite file. */
export async function seedLive(a: { sqlite: string; docs: number }): Promise<void> {
  const t0 = now();
  const c = configs(a.sqlite);
  const rel = createRelationalDb(c.relational);
  await rel.init();
  const vec = createVectorDb(c.vector, 'test-hash');
  await vec.init();
  await seedCorpus(rel, vec, a.docs);
  await vec.close();
  await rel.close();
  report({ items: a.docs * CHUNKS, ms: since(t0) });
}

/** The job, with the dev app writing through it (its own process). */
export async function switchyardLive(a: { sqlite: string; pgUrl: string; dataDir: string; pauseMs: number }): Promise<void> {
  const c = configs(a.sqlite);
  const connection = toConnection(a.pgUrl);
  const relational = createRelationalDb({ provider: 'postgres', logging: false, ...connection });
  await relational.init();
  const vector = createVectorDb({ provider: 'pgvector', connection, dimensions: DIMS, collection: 'chunks' } as VectorDbConfig, 'test-hash');
  await vector.init();
  const writerJs = path.join(__dirname, '..', '..', 'libs', 'migration', 'src', 'testing', 'knowledge-writer.js');
  const register = path.join(__dirname, '..', '..', '..', 'lib', 'register.js');
  const writer = spawn(process.execPath, ['-r', register, writerJs, JSON.stringify(c.relational), JSON.stringify(c.vector), '5', String(a.pauseMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  writer.stdout!.on('data', (d) => (out += d));
  const oks = () => (out.match(/^ok /gm) ?? []).length;
  while (oks() < 10) {
    if (writer.exitCode !== null) throw new Error(`the writer stopped: ${out.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const svc = new MigrationService({ target: { relational, vector }, profiles: { source: { name: 'source', ...c } }, dataDir: a.dataDir, defaultBatchSize: 1000, logger: quietLogger });
  const t0 = now();
  const before = oks();
  const job = await svc.waitFor((await svc.start({ kind: 'FULL_STACK', live: true })).id);
  const ms = since(t0);
  const during = oks() - before;
  writer.stdin!.end();
  await new Promise((r) => writer.once('exit', r));
  await svc.close();
  await vector.close();
  await relational.close();
  if (job.status !== 'CUT_OVER') throw new Error(`the job ended ${job.status}: ${job.errorCode}: ${job.error}`);
  const live = job.progress!.live!;
  const refused = (out.match(/^refused /gm) ?? []).length;
  log(`live: ${job.status} in ${ms} ms, ${live.rounds} round(s), ${live.applied} change(s), freeze ${live.freezeMs} ms, ${during} app writes during the job, ${refused} refused`);
  report({
    items: job.progress!.total,
    ms,
    breakdown: { rounds: live.rounds, applied: live.applied, freezeMs: live.freezeMs ?? -1, writesDuringJob: during, writesRefused: refused, writesPerSecond: Math.round((during / ms) * 1000) },
  });
}
