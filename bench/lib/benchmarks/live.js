'use strict';
/**
 * live: a FULL_STACK live migration (SQLite + sqlite-vec -> PostgreSQL + pgvector) while the dev app
 * writes through the KnowledgeService in another process. No anchor: the numbers are the operator's
 * (catch-up rounds, changes applied, freeze length). The freeze lasts from the freeze to the verified
 * cutover, so it includes the verification of every table and every vector.
 */
const path = require('node:path');
const { runWorker } = require('../child');
const { num, secs } = require('../format');

async function run(ctx) {
  const l = ctx.scale.live;
  const out = { title: `live: FULL_STACK live migration of ${num(l.docs)} documents / ${num(l.docs * 10)} chunks with the dev app writing`, tables: [], checks: [], notes: [] };
  const sqlite = path.join(ctx.tmpDir, `live-${Date.now()}.sqlite`);
  ctx.log(`seeding ${num(l.docs * 10)} chunks ...`);
  await runWorker('live-seed', { sqlite, docs: l.docs }, { side: 'seed' });
  const pgUrl = await ctx.services.freshDatabase('live');
  const rows = [];
  for (const pauseMs of l.pausesMs) {
    ctx.log(`FULL_STACK live, the dev app pausing ${pauseMs} ms between writes ...`);
    // Each run starts from a fresh target and a fresh copy of the source (the previous cutover froze it).
    const src = path.join(ctx.tmpDir, `live-src-${pauseMs}.sqlite`);
    require('node:fs').copyFileSync(sqlite, src);
    const target = await ctx.services.freshDatabase('livet');
    const r = await runWorker('live-switchyard', { sqlite: src, pgUrl: target, dataDir: ctx.tmpDir, pauseMs }, { side: 'switchyard' });
    await ctx.services.drop(target);
    const b = r.breakdown;
    rows.push({ 'app writes/s': num(b.writesPerSecond), records: num(r.items), 'job s': secs(r.ms), 'catch-up rounds': b.rounds, 'changes applied': num(b.applied), 'freeze s': secs(b.freezeMs), 'writes refused': num(b.writesRefused), 'peak RSS MiB': num(r.peakRssKiB / 1024) });
    out.checks.push({ metric: `freeze at ${num(b.writesPerSecond)} app writes/s`, measured: b.freezeMs / 1000, target: 'reported (seconds)', met: b.freezeMs >= 0 });
  }
  await ctx.services.drop(pgUrl);
  out.tables.push({ title: 'Live FULL_STACK (records = rows + chunks)', rows });
  out.notes.push('The dev app writes with HashEmbeddings (D=32, no model): the subject is the change capture and the freeze. A write is an index (1-6 chunks), a re-index or a delete.');
  return out;
}

module.exports = { run, title: 'live' };
