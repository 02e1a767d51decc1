'use strict';
/**
 * Generated source data, cached in bench/.cache/data and reused while the generator (bench/src/gen.ts)
 * and the parameters are unchanged (the data is deterministic, so a cached file is the same bytes).
 */
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { runWorker, BENCH_DIR } = require('./child');

function generatorHash() {
  const h = crypto.createHash('sha1');
  for (const f of ['gen.ts', 'relational.ts']) h.update(fs.readFileSync(path.join(BENCH_DIR, 'src', f)));
  return h.digest('hex').slice(0, 10);
}

/** The source SQLite file with `users` users and `docs` documents. */
async function ensureSqlite(ctx, users, docs) {
  const file = path.join(ctx.dataDir, `relational-u${users}-d${docs}.sqlite`);
  const stamp = `${file}.stamp`;
  const want = JSON.stringify({ users, docs, gen: generatorHash() });
  if (!(fs.existsSync(file) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want)) {
    ctx.log(`generating ${path.basename(file)} ...`);
    fs.rmSync(stamp, { force: true });
    const r = await runWorker('gen-sqlite', { file, users, docs }, { side: 'generate' });
    ctx.log(`generated ${users + docs} rows (${r.breakdown.contentMiB} MiB of document text) in ${(r.ms / 1000).toFixed(1)} s`);
    fs.writeFileSync(stamp, want);
  }
  return { file, mib: fs.statSync(file).size / 1048576 };
}

module.exports = { ensureSqlite };
