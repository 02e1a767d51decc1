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

const CAP_MIB = 128;
const CAP = [`--max-old-space-size=${CAP_MIB}`];

async function relationalRun(ctx, users, docs, nodeArgs = []) {
  const sqlite = await ensureSqlite(ctx, users, docs);
  const url = await ctx.services.freshDatabase('mem_rel');
  await ctx.checkpoint();
  const r = await runWorker('relational-switchyard', { sqlite: sqlite.file, pgUrl: url, dataDir: ctx.tmpDir }, { side: 'switchyard', nodeArgs });
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
  ctx.log(`relational 10x with the V8 old space capped at ${CAP_MIB} MiB ...`);
  const r10c = await relationalRun(ctx, R.users * 10, R.docs * 10, CAP).catch((e) => ({ error: e.message }));
  const V = m.vectors;
  ctx.log(`vectors 1x (${num(V.n)}) ...`);
  const v1 = await switchyardVectors(ctx, V);
  ctx.log(`vectors 10x (${num(V.n * 10)}) ...`);
  const v10 = await switchyardVectors(ctx, { ...V, n: V.n * 10, users: V.users * 10 });
  ctx.log(`vectors 10x with the V8 old space capped at ${CAP_MIB} MiB ...`);
  const v10c = await switchyardVectors(ctx, { ...V, n: V.n * 10, users: V.users * 10 }, CAP).catch((e) => ({ error: e.message }));
  const heap = (r) => (r.memory ? `${r.memory.heapUsedMiB} / ${r.memory.heapTotalMiB}` : '-');
  for (const [label, a, b, c, what] of [
    ['relational copy (SQLite -> PostgreSQL)', r1, r10, r10c, `rows (source ${num(r1.mib)} / ${num(r10.mib)} MiB)`],
    ['vector copy (Chroma -> pgvector, 384 dims)', v1, v10, v10c, 'vectors'],
  ]) {
    rows.push({ copy: label, scale: '1x', records: `${num(a.items)} ${what}`, 'wall s': secs(a.ms), 'peak RSS MiB': mib(a.peakRssKiB), 'peak heap used / total MiB': heap(a), '10x / 1x': '' });
    rows.push({ copy: '', scale: '10x', records: num(b.items), 'wall s': secs(b.ms), 'peak RSS MiB': mib(b.peakRssKiB), 'peak heap used / total MiB': heap(b), '10x / 1x': ratio(b.peakRssKiB / a.peakRssKiB) });
    rows.push(
      c.error
        ? { copy: '', scale: `10x, old space <= ${CAP_MIB} MiB`, records: 'FAILED', 'wall s': '', 'peak RSS MiB': '', 'peak heap used / total MiB': '', '10x / 1x': c.error.split('\n')[0].slice(0, 80) }
        : { copy: '', scale: `10x, old space <= ${CAP_MIB} MiB`, records: num(c.items), 'wall s': secs(c.ms), 'peak RSS MiB': mib(c.peakRssKiB), 'peak heap used / total MiB': heap(c), '10x / 1x': ratio(c.peakRssKiB / a.peakRssKiB) },
    );
    out.checks.push({ metric: `${label}: peak RSS 10x / 1x`, measured: b.peakRssKiB / a.peakRssKiB, target: '< 1.2x', met: b.peakRssKiB < 1.2 * a.peakRssKiB });
    if (!c.error) out.checks.push({ metric: `${label}: peak RSS 10x (old space <= ${CAP_MIB} MiB) / 1x`, measured: c.peakRssKiB / a.peakRssKiB, target: 'info', met: null });
  }
  out.tables.push({ title: 'Peak RSS', rows });
  out.notes.push(`The capped run is the same 10x copy under node --max-old-space-size=${CAP_MIB}: it completing shows the live data stays bounded; the growth of the default run is V8 letting its heap grow (collecting later) while memory is plentiful, not data kept.`);
  out.notes.push('Each run is its own Node process (module loading included: a bare Node + Switchyard process is part of the 1x number). Batch size 1000 (MIGRATION_BATCH_SIZE default).');
  out.raw = { r1, r10, r10c, v1, v10, v10c };
  return out;
}

module.exports = { run, title: 'memory' };
