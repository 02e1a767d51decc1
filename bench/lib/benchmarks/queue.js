'use strict';
/**
 * queue: a Chroma -> pgvector VECTORS job (as in `vectors`) run in-process, then as BullMQ partitions by 1
 * and by 2 worker processes (MIGRATION_QUEUE=bullmq, Redis). No target: issue 13 asks for the 2-worker vs
 * 1-worker throughput, which on a 2-core machine that also runs PostgreSQL and Chroma says how much of a
 * job is the workers' own CPU.
 */
const { randomBytes } = require('node:crypto');
const { runWorker, startWorker, stopWorker } = require('../child');
const { num, secs, ratio, rate, sideRow } = require('../format');
const { ensureCollection } = require('./vectors');

async function run(ctx) {
  const v = ctx.scale.queue;
  const out = { title: `queue: Chroma (${num(v.n)} x ${v.dims}) -> pgvector, in-process vs BullMQ partitions on 1 and 2 workers`, tables: [], checks: [], notes: [] };
  const { url: chromaUrl, collection } = await ensureCollection(ctx, v);
  const redisUrl = await ctx.services.redisUrl();
  const rows = [];
  const results = {};
  for (const workers of [0, 1, 2]) {
    const pgUrl = await ctx.services.freshDatabase('queue');
    const queue = workers ? { kind: 'bullmq', redisUrl, prefix: `sy-bench-${randomBytes(4).toString('hex')}`, partitionSize: v.partition, concurrency: 1, rateLimit: 0, lockMs: 30000, attempts: 3 } : undefined;
    const args = { chromaUrl, collection, pgUrl, dims: v.dims, dataDir: ctx.tmpDir, queue };
    const started = [];
    try {
      for (let i = 0; i < workers; i++) started.push(await startWorker('queue-worker', args, { side: `worker-${i + 1}` }));
      await ctx.checkpoint();
      ctx.log(workers ? `VECTORS as partitions of ${num(v.partition)} on ${workers} worker process(es) ...` : 'VECTORS in-process ...');
      const r = await runWorker('queue-job', args, { side: workers ? `coordinator-${workers}` : 'in-process' });
      if (r.items !== v.n) throw new Error(`the job wrote ${r.items} vectors, expected ${v.n}`);
      results[workers] = r;
    } finally {
      await Promise.all(started.map((c) => stopWorker(c)));
      await ctx.services.drop(pgUrl);
    }
    const r = results[workers];
    const label = workers ? `BullMQ, ${workers} worker process${workers > 1 ? 'es' : ''} (${r.breakdown.partitions} partitions, ${r.breakdown.attempts} attempts)` : 'in-process runner';
    rows.push(sideRow(label, r, { 'vs in-process': ratio(rate(r.items, r.ms) / rate(results[0].items, results[0].ms)) }));
  }
  out.tables.push({ title: 'Whole job (copy + index + verify), peak RSS of the coordinator', rows });
  const two = rate(results[2].items, results[2].ms) / rate(results[1].items, results[1].ms);
  out.checks.push({ metric: '2 workers vs 1 (records/s, whole job)', measured: two, target: 'reported', met: null });
  out.notes.push('Every run ends SUCCEEDED with its verification passed (the benchmark fails otherwise). The workers, PostgreSQL and Chroma share the machine\'s cores.');
  out.raw = results;
  return out;
}

module.exports = { run, title: 'queue' };
