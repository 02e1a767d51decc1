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

/** Clients querying at once in the concurrent run. */
const CONCURRENT = 16;
/** hnsw.ef_search on both sides: Switchyard's default (VECTOR_DB_HNSW_EF_SEARCH). */
const EF_SEARCH = 100;

const ms = (x) => (x === undefined || x === null ? '-' : x.toFixed(2));

async function run(ctx) {
  const s = ctx.scale.search;
  const out = { title: `search: user-scoped top-10 on pgvector HNSW, ${num(s.n)} chunks x ${s.dims}, ${s.users} users, ${num(s.queries)} queries one at a time and ${CONCURRENT} at once`, tables: [], checks: [], notes: [] };
  const pgUrl = await ctx.services.freshDatabase('search');
  ctx.log(`seeding ${num(s.n)} chunks + HNSW index ...`);
  const seeded = await runWorker('search-seed', { pgUrl, n: s.n, dims: s.dims, users: s.users }, { side: 'seed' });
  ctx.log(`seeded in ${secs(seeded.ms)} s (index ${secs(seeded.breakdown.indexMs)} s)`);
  await ctx.checkpoint();
  const modelPath = model384();
  const rows = [];
  const runs = [
    { mode: 'vector', concurrency: 1 },
    { mode: 'knowledge', concurrency: 1 },
    { mode: 'vector', concurrency: CONCURRENT },
  ];
  for (const { mode, concurrency } of runs) {
    const args = { pgUrl, dims: s.dims, users: s.users, queries: concurrency > 1 ? s.queries * 2 : s.queries, warmup: s.warmup, mode, modelPath, concurrency, efSearch: EF_SEARCH, recallQueries: mode === 'vector' && concurrency === 1 ? Math.min(100, s.queries) : 0 };
    // raw, Switchyard, raw again: the anchor is the better of its two runs (cache effects favour neither side).
    ctx.log(`${mode}: raw / Switchyard / raw ...`);
    const rawA = await runWorker('search-raw', args, { side: 'raw' });
    const sy = await runWorker('search-switchyard', args, { side: 'switchyard' });
    const rawB = await runWorker('search-raw', args, { side: 'raw' });
    const raw = rawA.breakdown.p50Ms <= rawB.breakdown.p50Ms ? rawA : rawB;
    const at = concurrency > 1 ? `, ${concurrency} clients at once` : '';
    const label = (mode === 'vector' ? 'VectorDb.query (pre-embedded)' : 'KnowledgeService.search (embeds query, D=384 model)') + at;
    const rawLabel = (mode === 'vector' ? 'raw SQL through pg' : 'raw: pipeline embed + SQL through pg') + (concurrency > 1 ? `, ${concurrency} clients / connections` : '');
    for (const [side, r, base] of [
      [rawLabel, raw, null],
      [`Switchyard ${label}`, sy, raw],
    ]) {
      const b = r.breakdown;
      rows.push({ side, 'p50 ms': ms(b.p50Ms), 'p95 ms': ms(b.p95Ms), 'p99 ms': ms(b.p99Ms), 'mean ms': ms(b.meanMs), 'queries/s': num(b.qps), 'peak RSS MiB': num(r.peakRssKiB / 1024), 'p50 vs raw': base ? ratio(b.p50Ms / base.breakdown.p50Ms) : '1.00x', 'p99 vs raw': base ? ratio(b.p99Ms / base.breakdown.p99Ms) : '1.00x', hits: b.avgHits.toFixed(1), 'recall@10': b.recallAt10 >= 0 ? b.recallAt10.toFixed(4) : '' });
    }
    out.checks.push({ metric: `search p50 vs raw: ${label}`, measured: sy.breakdown.p50Ms / raw.breakdown.p50Ms, target: '<= 1.2x', met: sy.breakdown.p50Ms <= 1.2 * raw.breakdown.p50Ms });
    if (concurrency > 1) out.checks.push({ metric: `search p99 vs raw: ${label}`, measured: sy.breakdown.p99Ms / raw.breakdown.p99Ms, target: '<= 1.2x', met: sy.breakdown.p99Ms <= 1.2 * raw.breakdown.p99Ms });
    if (sy.breakdown.recallAt10 >= 0) out.checks.push({ metric: 'search recall@10 vs exact (VectorDb.query)', measured: sy.breakdown.recallAt10, target: '>= 0.99', met: sy.breakdown.recallAt10 >= 0.99 });
    if (mode === 'vector' && concurrency === 1) out.notes.push(`Plan of the raw SQL (Switchyard sends the same statement for a user with more than 10,000 chunks; below that, an exact scan of the user's rows): ${(raw.plan || []).map((l) => l.trim()).join(' / ')}`);
  }
  await ctx.services.drop(pgUrl);
  out.tables.push({ title: `Latency (one query at a time, then ${CONCURRENT} clients at once)`, rows });
  out.notes.push(`Data: ${num(s.n)} clustered unit vectors (256 clusters), ${num(s.n / s.users)} chunks per user; seeded with Switchyard's bulk path, HNSW (m=16, ef_construction=64) built with maintenance_work_mem=1GB in ${secs(seeded.breakdown.indexMs)} s; ${s.warmup} warm-up queries per run.`);
  out.notes.push(`Raw anchor: SET hnsw.iterative_scan = strict_order and hnsw.ef_search = ${EF_SEARCH} once per session, then one statement per query, one connection per client. Switchyard: the same settings once per pooled connection (pool of 5); for a user with at most 10,000 chunks (EXACT_SCAN_BELOW) it scans that user's rows exactly instead of walking the graph (PgvectorVectorDb.doQuery), so its recall is 1 where the raw SQL's approximate scan may miss neighbours.`);
  return out;
}

module.exports = { run, title: 'search' };
