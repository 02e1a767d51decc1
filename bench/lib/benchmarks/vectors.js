'use strict';
/**
 * vectors: a Chroma collection (written by Switchyard's Chroma driver) -> pgvector.
 * Switchyard: MigrationService VECTORS (copy, HNSW build after the load, verification incl. recall@10).
 * Anchors: the seed guide's naive loop; LangChain.js (bench/langchain); raw Chroma read alone; raw binary COPY into pgvector alone.
 * Targets: >= 10x the naive loop; >= 0.9x the slower raw stage; >= 3x LangChain.js (copied + indexed). Index build reported separately.
 */
const { runWorker } = require('../child');
const { ensureLangchain } = require('../langchain');
const { num, secs, ratio, rate, sideRow } = require('../format');

/** Seeds (or reuses, for the same size) a Chroma collection. */
async function ensureCollection(ctx, v) {
  const url = await ctx.services.chromaUrl();
  const collection = `bench_n${v.n}_d${v.dims}_u${v.users}`;
  ctx.seeded = ctx.seeded || new Set();
  if (!ctx.seeded.has(collection)) {
    ctx.log(`seeding Chroma collection ${collection} (${num(v.n)} x ${v.dims}) ...`);
    const r = await runWorker('seed-chroma', { chromaUrl: url, collection, n: v.n, dims: v.dims, users: v.users }, { side: 'seed' });
    ctx.log(`seeded in ${secs(r.ms)} s`);
    ctx.seeded.add(collection);
  }
  return { url, collection };
}

/** Switchyard's VECTORS job into a fresh database; used by `vectors` and `memory`. */
async function switchyardVectors(ctx, v, nodeArgs = [], persistDir = undefined) {
  const { url: chromaUrl, collection } = await ensureCollection(ctx, v);
  const pgUrl = await ctx.services.freshDatabase('vec_sy');
  await ctx.checkpoint();
  const r = await runWorker('vectors-switchyard', { chromaUrl, collection, pgUrl, dims: v.dims, dataDir: ctx.tmpDir, persistDir }, { side: persistDir ? 'switchyard-persist' : 'switchyard', nodeArgs });
  await ctx.services.drop(pgUrl);
  if (r.items !== v.n) throw new Error(`Switchyard wrote ${r.items} vectors, expected ${v.n}`);
  return r;
}

async function run(ctx) {
  const v = ctx.scale.vectors;
  const out = { title: `vectors: Chroma collection (${num(v.n)} x ${v.dims}, text + metadata) -> pgvector`, tables: [], checks: [], notes: [] };
  const { url: chromaUrl, collection } = await ensureCollection(ctx, v);

  ctx.log('raw Chroma read ...');
  const read = await runWorker('vectors-raw-read', { chromaUrl, collection }, { side: 'raw-read' });
  ctx.log('raw binary COPY into pgvector ...');
  let pgUrl = await ctx.services.freshDatabase('vec_copy');
  await ctx.checkpoint();
  const copy = await runWorker('vectors-raw-copy', { pgUrl, n: v.n, dims: v.dims, users: v.users }, { side: 'raw-copy' });
  await ctx.services.drop(pgUrl);
  ctx.log('naive loop (seed guide) ...');
  pgUrl = await ctx.services.freshDatabase('vec_naive');
  await ctx.checkpoint();
  const naive = await runWorker('vectors-naive', { chromaUrl, collection, pgUrl, dims: v.dims }, { side: 'naive' });
  await ctx.services.drop(pgUrl);
  const lc = ensureLangchain(ctx.log);
  let langchain = null;
  if (lc.dir) {
    ctx.log('LangChain.js: Chroma store read + PGVectorStore.addVectors ...');
    pgUrl = await ctx.services.freshDatabase('vec_lc');
    await ctx.checkpoint();
    langchain = await runWorker('vectors-langchain', { chromaUrl, collection, pgUrl, dims: v.dims }, { side: 'langchain', env: { BENCH_LANGCHAIN_DIR: lc.dir } });
    await ctx.services.drop(pgUrl);
  } else out.notes.push(`LangChain.js: not run: ${lc.why}.`);
  ctx.log('Switchyard MigrationService VECTORS ...');
  const sy = await switchyardVectors(ctx, v);
  // The same job reading the collection from the server's persist directory (the server idle meanwhile).
  const persistDir = await ctx.services.chromaPersistDir();
  let disk = null;
  let diskRead = null;
  if (persistDir) {
    ctx.log('persist-directory read alone ...');
    diskRead = await runWorker('vectors-persist-read', { chromaUrl, collection, persistDir, dims: v.dims }, { side: 'persist-read' });
    ctx.log('Switchyard MigrationService VECTORS from the persist directory ...');
    disk = await switchyardVectors(ctx, v, [], persistDir);
  } else out.notes.push('Persist-directory runs: not run (BENCH_CHROMA_URL is set without BENCH_CHROMA_PERSIST_DIR).');

  const b = sy.breakdown;
  const syAll = rate(sy.items, sy.ms);
  const syServe = rate(sy.items, b.openTargetMs + b.copyMs); // copied and indexed: ready to serve
  const syCopy = rate(sy.items, b.openTargetMs + b.copyNoIndexMs);
  const naiveRate = rate(naive.items, naive.ms);
  const readRate = rate(read.items, read.ms);
  const copyRate = rate(copy.items, copy.ms);
  const slower = Math.min(readRate, copyRate);
  const floorMs = Math.max(read.ms, copy.ms) + copy.breakdown.indexMs;
  out.tables.push({
    title: 'Throughput',
    rows: [
      sideRow('naive loop (guide: 1 INSERT per record, HNSW in place)', naive, { 'vs naive': '1.00x', 'vs slower raw stage': ratio(naiveRate / slower) }),
      sideRow('raw Chroma read alone', read, { 'vs naive': ratio(readRate / naiveRate), 'vs slower raw stage': ratio(readRate / slower) }),
      sideRow('raw binary COPY alone (no index)', copy, { 'vs naive': ratio(copyRate / naiveRate), 'vs slower raw stage': ratio(copyRate / slower) }),
      // The best any Chroma -> pgvector pipeline can do here: the slower stage fully overlapped with the other, then the index build.
      { side: 'floor: slower raw stage + HNSW build (ideal pipeline, no verify)', records: num(v.n), 'wall s': secs(floorMs), 'records/s': num(rate(v.n, floorMs)), 'peak RSS MiB': '', 'vs naive': ratio(rate(v.n, floorMs) / naiveRate), 'vs slower raw stage': ratio(rate(v.n, floorMs) / slower) },
      ...(langchain ? [sideRow('LangChain.js: Chroma store read + PGVectorStore.addVectors + its HNSW index', langchain, { 'vs naive': ratio(rate(langchain.items, langchain.ms) / naiveRate), 'vs slower raw stage': ratio(rate(langchain.items, langchain.ms) / slower) })] : []),
      sideRow('Switchyard job (copy + index + verify)', sy, { 'vs naive': ratio(syAll / naiveRate), 'vs slower raw stage': ratio(syAll / slower) }),
      { side: '  Switchyard copied + indexed (no verify)', records: num(sy.items), 'wall s': secs(b.openTargetMs + b.copyMs), 'records/s': num(syServe), 'peak RSS MiB': '', 'vs naive': ratio(syServe / naiveRate), 'vs slower raw stage': ratio(syServe / slower) },
      { side: '  Switchyard copy stage (no index, no verify)', records: num(sy.items), 'wall s': secs(b.openTargetMs + b.copyNoIndexMs), 'records/s': num(syCopy), 'peak RSS MiB': '', 'vs naive': ratio(syCopy / naiveRate), 'vs slower raw stage': ratio(syCopy / slower) },
      ...(disk
        ? [
            sideRow('persist-directory read alone (ChromaPersistVectorDb.scan)', diskRead, { 'vs naive': ratio(rate(diskRead.items, diskRead.ms) / naiveRate), 'vs slower raw stage': ratio(rate(diskRead.items, diskRead.ms) / slower) }),
            sideRow('Switchyard job from the persist directory (copy + index + verify)', disk, { 'vs naive': ratio(rate(disk.items, disk.ms) / naiveRate), 'vs slower raw stage': ratio(rate(disk.items, disk.ms) / slower) }),
            { side: '  from the persist directory: copied + indexed (no verify)', records: num(disk.items), 'wall s': secs(disk.breakdown.openTargetMs + disk.breakdown.copyMs), 'records/s': num(rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyMs)), 'peak RSS MiB': '', 'vs naive': ratio(rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyMs) / naiveRate), 'vs slower raw stage': ratio(rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyMs) / slower) },
            { side: '  from the persist directory: copy stage (no index, no verify)', records: num(disk.items), 'wall s': secs(disk.breakdown.openTargetMs + disk.breakdown.copyNoIndexMs), 'records/s': num(rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyNoIndexMs)), 'peak RSS MiB': '', 'vs naive': ratio(rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyNoIndexMs) / naiveRate), 'vs slower raw stage': ratio(rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyNoIndexMs) / slower) },
          ]
        : []),
    ],
  });
  out.tables.push({
    title: 'Index build and Switchyard time breakdown (s)',
    rows: [
      { what: 'HNSW build after raw COPY (default maintenance_work_mem)', s: secs(copy.breakdown.indexMs) },
      { what: 'HNSW build in the Switchyard job (finishBulkLoad)', s: secs(b.indexMs) },
      { what: 'Switchyard: Chroma pages read (busy, overlaps writes)', s: secs(b.readBusyMs) },
      { what: 'Switchyard: pgvector batches written (busy)', s: secs(b.writeBusyMs) },
      { what: 'Switchyard: verification (re-read both sides, checksums, recall@10)', s: secs(b.verifyMs) },
      { what: 'naive loop: of which reading Chroma', s: secs(naive.breakdown.readMs) },
      ...(disk
        ? [
            { what: 'from the persist directory: HNSW build', s: secs(disk.breakdown.indexMs) },
            { what: 'from the persist directory: pages read (busy)', s: secs(disk.breakdown.readBusyMs) },
            { what: 'from the persist directory: pgvector batches written (busy)', s: secs(disk.breakdown.writeBusyMs) },
            { what: 'from the persist directory: verification', s: secs(disk.breakdown.verifyMs) },
          ]
        : []),
    ],
  });
  out.notes.push(`Switchyard verification: recall@10 ${sy.recallAt10}; checksums matched (the job fails otherwise).`);
  out.checks.push({ metric: 'vectors/s vs naive loop (copied + indexed)', measured: syServe / naiveRate, target: '>= 10x', met: syServe >= 10 * naiveRate });
  out.checks.push({ metric: 'floor (slower raw stage + HNSW build) vs naive loop', measured: rate(v.n, floorMs) / naiveRate, target: 'info', met: null });
  out.checks.push({ metric: 'vectors/s vs naive loop (whole job incl. verification)', measured: syAll / naiveRate, target: '>= 10x', met: syAll >= 10 * naiveRate });
  out.checks.push({ metric: `copy stage vs slower raw stage (${readRate < copyRate ? 'Chroma read' : 'COPY'})`, measured: syCopy / slower, target: '>= 0.9x', met: syCopy >= 0.9 * slower });
  const diskServe = disk ? rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyMs) : null;
  if (disk) {
    const diskCopy = rate(disk.items, disk.breakdown.openTargetMs + disk.breakdown.copyNoIndexMs);
    const diskSlower = Math.min(rate(diskRead.items, diskRead.ms), copyRate);
    out.checks.push({ metric: 'from the persist directory: vectors/s vs naive loop (copied + indexed)', measured: diskServe / naiveRate, target: '>= 10x', met: diskServe >= 10 * naiveRate });
    out.checks.push({ metric: 'from the persist directory: vectors/s vs naive loop (whole job incl. verification)', measured: rate(disk.items, disk.ms) / naiveRate, target: 'info', met: null });
    out.checks.push({ metric: `from the persist directory: copy stage vs its slower raw stage (${rate(diskRead.items, diskRead.ms) < copyRate ? 'persist read' : 'COPY'})`, measured: diskCopy / diskSlower, target: '>= 0.9x', met: diskCopy >= 0.9 * diskSlower });
    out.notes.push(`From the persist directory: recall@10 ${disk.recallAt10}; checksums matched (the job fails otherwise).`);
  }
  if (langchain) {
    const l = langchain.breakdown;
    const lcRate = rate(langchain.items, langchain.ms);
    if (disk) out.checks.push({ metric: 'from the persist directory: vectors/s vs LangChain.js (copied + indexed)', measured: diskServe / lcRate, target: '>= 3x', met: diskServe >= 3 * lcRate });
    out.checks.push({ metric: 'vectors/s vs LangChain.js (copied + indexed)', measured: syServe / lcRate, target: '>= 3x', met: syServe >= 3 * lcRate });
    out.checks.push({ metric: 'vectors/s vs LangChain.js (Switchyard whole job incl. verification)', measured: syAll / lcRate, target: 'info', met: null });
    out.notes.push(
      `LangChain.js (@langchain/community 1.1.29, bench/langchain): read ${secs(l.readMs)} s, addVectors ${secs(l.writeMs)} s, HNSW ${secs(l.indexMs)} s; it stored ${num(l.rows)} rows for ${num(langchain.items)} records. ` +
        `Of ${l.sampled} sampled records: ${l.sameId} kept their id (PGVectorStore's id column is a uuid; given the source's ids: ${langchain.idsRefused ? `refused, "${langchain.idsRefused}"` : 'accepted'}), ${l.sameContent} their text, ${l.sameMetadata} their metadata, ${l.exactFloats} every float32 exactly. ` +
        'Its table has no user or document column (they are metadata keys) and nothing compares the copy with the source afterwards.',
    );
  }
  out.raw = { switchyard: sy, switchyardPersist: disk, persistRead: diskRead, naive, read, copy };
  return out;
}

module.exports = { run, switchyardVectors, ensureCollection, title: 'vectors' };
