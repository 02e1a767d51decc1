'use strict';
/**
 * memory: Switchyard's relational and vector copies at 1x and 10x the data; peak RSS of the migrating
 * process (it streams: pages in, pages out, so memory should not grow with the data).
 * Target: peak RSS at 10x < 1.2x peak RSS at 1x.
 */
const { runWorker } = require('../child');
const { num, secs, mib, ratio } = require('../format');
const { ensureSqlite } = require('../data');
const { switchyardVectors } = require('./vectors');

async function relationalRun(ctx, users, docs) {
  const sqlite = await ensureSqlite(ctx, users, docs);
  const url = await ctx.services.freshDatabase('mem_rel');
  await ctx.checkpoint();
  const r = await runWorker('relational-switchyard', { sqlite: sqlite.file, pgUrl: url, dataDir: ctx.tmpDir }, { side: 'switchyard' });
  await ctx.services.drop(url);
  return { ...r, mib: sqlite.mib };
}

async function run(ctx) {
  const m = ctx.scale.memory;
  const out = { title: 'memory: peak RSS of the migrating process at 1x and 10x the data', tables: [], checks: [], notes: [] };
  const rows = [];
  const R = m.relational;
  ctx.log(`relational 1x (${num(R.docs)} documents) ...`);
  const r1 = await relationalRun(ctx, R.users, R.docs);
  ctx.log(`relational 10x (${num(R.docs * 10)} documents) ...`);
  const r10 = await relationalRun(ctx, R.users * 10, R.docs * 10);
  const V = m.vectors;
  ctx.log(`vectors 1x (${num(V.n)}) ...`);
  const v1 = await switchyardVectors(ctx, V);
  ctx.log(`vectors 10x (${num(V.n * 10)}) ...`);
  const v10 = await switchyardVectors(ctx, { ...V, n: V.n * 10, users: V.users * 10 });
  for (const [label, a, b, what] of [
    ['relational copy (SQLite -> PostgreSQL)', r1, r10, `rows (source ${num(r1.mib)} / ${num(r10.mib)} MiB)`],
    ['vector copy (Chroma -> pgvector, 384 dims)', v1, v10, 'vectors'],
  ]) {
    rows.push({ copy: label, scale: '1x', records: `${num(a.items)} ${what}`, 'wall s': secs(a.ms), 'peak RSS MiB': mib(a.peakRssKiB), '10x / 1x': '' });
    rows.push({ copy: '', scale: '10x', records: num(b.items), 'wall s': secs(b.ms), 'peak RSS MiB': mib(b.peakRssKiB), '10x / 1x': ratio(b.peakRssKiB / a.peakRssKiB) });
    out.checks.push({ metric: `${label}: peak RSS 10x / 1x`, measured: b.peakRssKiB / a.peakRssKiB, target: '< 1.2x', met: b.peakRssKiB < 1.2 * a.peakRssKiB });
  }
  out.tables.push({ title: 'Peak RSS', rows });
  out.notes.push('Each run is its own Node process (module loading included: a bare Node + Switchyard process is part of the 1x number). Batch size 1000 (MIGRATION_BATCH_SIZE default).');
  out.raw = { r1, r10, v1, v10 };
  return out;
}

module.exports = { run, title: 'memory' };
