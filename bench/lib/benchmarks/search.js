'use strict';
/**
 * search: user-scoped top-10 on pgvector with an HNSW index over N chunks, one query at a time.
 * Switchyard: VectorDb.query with pre-embedded query vectors (the data layer alone), and
 * KnowledgeService.search (embeds the query text with the generated D=384 model first).
 * Anchor: the same SQL through one `pg` Client (settings once per session), with the query embedded by
 * the transformers.js pipeline directly in the knowledge case. Target: p50 <= 1.2x raw.
 */
const { runWorker } = require('../child');
const { model384 } = require('../models');
const { num, secs, ratio } = require('../format');

const ms = (x) => (x === undefined || x === null ? '-' : x.toFixed(2));

async function run(ctx) {
  const s = ctx.scale.search;
  const out = { title: `search: user-scoped top-10 on pgvector HNSW, ${num(s.n)} chunks x ${s.dims}, ${s.users} users, ${num(s.queries)} queries one at a time`, tables: [], checks: [], notes: [] };
  const pgUrl = await ctx.services.freshDatabase('search');
  ctx.log(`seeding ${num(s.n)} chunks + HNSW index ...`);
  const seeded = await runWorker('search-seed', { pgUrl, n: s.n, dims: s.dims, users: s.users }, { side: 'seed' });
  ctx.log(`seeded in ${secs(seeded.ms)} s (index ${secs(seeded.breakdown.indexMs)} s)`);
  await ctx.checkpoint();
  const modelPath = model384();
  const rows = [];
  for (const mode of ['vector', 'knowledge']) {
    const args = { pgUrl, dims: s.dims, users: s.users, queries: s.queries, warmup: s.warmup, mode, modelPath };
    // raw, Switchyard, raw again: the anchor is the better of its two runs (cache effects favour neither side).
    ctx.log(`${mode}: raw / Switchyard / raw ...`);
    const rawA = await runWorker('search-raw', args, { side: 'raw' });
    const sy = await runWorker('search-switchyard', args, { side: 'switchyard' });
    const rawB = await runWorker('search-raw', args, { side: 'raw' });
    const raw = rawA.breakdown.p50Ms <= rawB.breakdown.p50Ms ? rawA : rawB;
    const label = mode === 'vector' ? 'VectorDb.query (pre-embedded)' : 'KnowledgeService.search (embeds query, D=384 model)';
    const rawLabel = mode === 'vector' ? 'raw SQL through pg' : 'raw: pipeline embed + SQL through pg';
    for (const [side, r, base] of [
      [rawLabel, raw, null],
      [`Switchyard ${label}`, sy, raw],
    ]) {
      const b = r.breakdown;
      rows.push({ side, 'p50 ms': ms(b.p50Ms), 'p95 ms': ms(b.p95Ms), 'p99 ms': ms(b.p99Ms), 'mean ms': ms(b.meanMs), 'queries/s': num(1000 / b.meanMs), 'peak RSS MiB': num(r.peakRssKiB / 1024), 'p50 vs raw': base ? ratio(b.p50Ms / base.breakdown.p50Ms) : '1.00x', hits: b.avgHits.toFixed(1) });
    }
    out.checks.push({ metric: `search p50 vs raw: ${label}`, measured: sy.breakdown.p50Ms / raw.breakdown.p50Ms, target: '<= 1.2x', met: sy.breakdown.p50Ms <= 1.2 * raw.breakdown.p50Ms });
    if (mode === 'vector') out.notes.push(`Plan (same SQL, same settings on both sides): ${(raw.plan || []).map((l) => l.trim()).join(' / ')}`);
  }
  await ctx.services.drop(pgUrl);
  out.tables.push({ title: 'Latency (one query at a time)', rows });
  out.notes.push(`Data: ${num(s.n)} clustered unit vectors (256 clusters), ${num(s.n / s.users)} chunks per user; seeded with Switchyard's bulk path, HNSW (m=16, ef_construction=64) built with maintenance_work_mem=1GB in ${secs(seeded.breakdown.indexMs)} s; ${s.warmup} warm-up queries per run.`);
  out.notes.push('Raw anchor: SET hnsw.iterative_scan = strict_order and hnsw.ef_search = 40 once per session, then one statement per query. Switchyard sends BEGIN, SET LOCAL x2, the SELECT and COMMIT per query (PgvectorVectorDb.doQuery).');
  return out;
}

module.exports = { run, title: 'search' };
