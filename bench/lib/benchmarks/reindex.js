'use strict';
/**
 * reindex: the target's documents re-chunked and re-embedded through MigrationService REINDEX into
 * pgvector, against the raw batched throughput of the same model (transformers.js pipeline, batches of
 * 32 = EMBEDDINGS_BATCH_SIZE's default) in a process doing nothing else. Target: >= 0.9x raw.
 *
 * Models: the generated test model (scripts/generate-test-model.js, D=32) and the same generator at
 * D=384 (the production model's dimension, so the vector writes weigh what they would). The real
 * Xenova/all-MiniLM-L6-v2 cannot be downloaded on this machine (no access to huggingface.co).
 */
const { runWorker } = require('../child');
const { testModel, model384 } = require('../models');
const { num, secs, ratio, rate, sideRow } = require('../format');

const EMBEDDINGS_BATCH = 32;

function models() {
  return [
    { label: 'generated test model (D=32)', path: testModel() },
    { label: 'generated model, D=384', path: model384() },
  ];
}

async function run(ctx) {
  const r = ctx.scale.reindex;
  const out = { title: `reindex: ${num(r.chunks)} chunks re-embedded through MigrationService REINDEX -> pgvector`, tables: [], checks: [], notes: [] };
  const rows = [];
  const breakdown = [];
  for (const model of models()) {
    const pgUrl = await ctx.services.freshDatabase('reindex');
    const seeded = await runWorker('reindex-seed', { pgUrl, chunks: r.chunks, users: r.users }, { side: 'seed' });
    const args = { pgUrl, modelPath: model.path, dataDir: ctx.tmpDir, embeddingsBatch: EMBEDDINGS_BATCH };
    // raw, Switchyard, raw again: the anchor is the mean of the two raw runs (the machine's speed drifts).
    ctx.log(`${model.label}: raw embedding / Switchyard REINDEX / raw embedding ...`);
    const rawA = await runWorker('reindex-raw', args, { side: 'raw-embed' });
    await ctx.checkpoint();
    const sy = await runWorker('reindex-switchyard', args, { side: 'switchyard' });
    const again = await runWorker('reindex-switchyard', { ...args, again: true }, { side: 'switchyard-again' });
    const rawB = await runWorker('reindex-raw', args, { side: 'raw-embed' });
    await ctx.services.drop(pgUrl);
    const raw = { ...rawA, ms: (rawA.ms + rawB.ms) / 2, peakRssKiB: Math.max(rawA.peakRssKiB, rawB.peakRssKiB), breakdown: { driverEmbedMs: (rawA.breakdown.driverEmbedMs + rawB.breakdown.driverEmbedMs) / 2 } };
    out.notes.push(`${model.label}: raw runs ${secs(rawA.ms)} s and ${secs(rawB.ms)} s (mean used); Switchyard's driver embed() on the same chunks: ${secs(rawA.breakdown.driverEmbedMs)} s and ${secs(rawB.breakdown.driverEmbedMs)} s.`);
    if (sy.items !== raw.items) out.notes.push(`${model.label}: Switchyard stored ${sy.items} chunks, the raw run embedded ${raw.items}.`);
    const b = sy.breakdown;
    const rawRate = rate(raw.items, raw.ms);
    const syAll = rate(sy.items, sy.ms);
    const syServe = rate(sy.items, b.copyMs);
    const syCopy = rate(sy.items, b.copyNoIndexMs);
    rows.push(sideRow(`${model.label}: raw pipeline, batches of ${EMBEDDINGS_BATCH} (mean of 2)`, raw, { 'vs raw': '1.00x' }));
    rows.push(sideRow(`${model.label}: Switchyard job (re-index + index + verify)`, sy, { 'vs raw': ratio(syAll / rawRate) }));
    rows.push({ side: '  re-indexed + HNSW built (no verify)', records: num(sy.items), 'wall s': secs(b.copyMs), 'records/s': num(syServe), 'peak RSS MiB': '', 'vs raw': ratio(syServe / rawRate) });
    rows.push({ side: '  re-index stage (no index, no verify)', records: num(sy.items), 'wall s': secs(b.copyNoIndexMs), 'records/s': num(syCopy), 'peak RSS MiB': '', 'vs raw': ratio(syCopy / rawRate) });
    const ab = again.breakdown;
    rows.push(sideRow(`${model.label}: the same job again, corpus unchanged (incremental)`, again, { 'vs raw': ratio(rate(again.items, again.ms) / rawRate) }));
    rows.push({ side: `  again: ${num(ab.unchangedDocuments)} of ${num(ab.documents)} documents unchanged, ${num(ab.written)} chunks written, ${ab.backups} backups`, records: '', 'wall s': `${secs(ab.copyMs)} + ${secs(ab.verifyMs)} verify`, 'records/s': '', 'peak RSS MiB': '', 'vs raw': '' });
    breakdown.push({
      model: model.label,
      documents: num(seeded.breakdown.documents),
      'raw embed s (mean)': secs(raw.ms),
      'driver embed() s (mean)': secs(raw.breakdown.driverEmbedMs),
      'job: embed busy s': secs(b.embedBusyMs),
      'job: write busy s': secs(b.writeBusyMs),
      'job: record per page s': secs(b.recordBusyMs),
      'job: HNSW s': secs(b.indexMs),
      'job: verify s': secs(b.verifyMs),
      'recall@10': sy.recallAt10,
    });
    out.checks.push({ metric: `${model.label}: chunks/s vs raw (whole job)`, measured: syAll / rawRate, target: '>= 0.9x', met: syAll >= 0.9 * rawRate });
    out.checks.push({ metric: `${model.label}: chunks/s vs raw (re-index stage only)`, measured: syCopy / rawRate, target: '>= 0.9x', met: syCopy >= 0.9 * rawRate });
    out.checks.push({ metric: `${model.label}: second re-index of the unchanged corpus, time / first`, measured: again.ms / sy.ms, target: '< 0.05x', met: again.ms < 0.05 * sy.ms && ab.written === 0 });
  }
  out.tables.push({ title: 'Throughput (records = chunks)', rows });
  out.tables.push({ title: 'Where the time goes', rows: breakdown });
  out.notes.push('Raw = embedding alone (chunks read and split beforehand, untimed). The job also reads and splits the documents, writes the vectors, builds the HNSW index and verifies (re-splits every document, reads every vector back, 20 self-retrieval queries); "job: embed busy" is the time inside Embeddings.embed() during the copy.');
  out.notes.push('The real transformers.js pipeline is what runs here (tokenizer, ONNX runtime, mean pooling); only the weights are generated. Xenova/all-MiniLM-L6-v2 itself cannot be fetched on this machine, so its row is missing.');
  return out;
}

module.exports = { run, title: 'reindex' };
