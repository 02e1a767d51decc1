'use strict';
/**
 * relational: SQLite users + documents -> PostgreSQL.
 * Switchyard: MigrationService RELATIONAL (copy + verification) into a fresh database.
 * Anchor: pgloader on the same file into another fresh database.
 * Target: Switchyard rows/s >= pgloader rows/s.
 */
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { runWorker, runMeasured } = require('../child');
const { num, secs, ratio, rate, sideRow } = require('../format');
const { ensureSqlite } = require('../data');

/** pgloader, installing the Debian package if it is missing and we may (root, not disabled). */
function findPgloader(log) {
  const which = () => {
    try {
      return execFileSync('sh', ['-c', 'command -v pgloader'], { encoding: 'utf8' }).trim() || null;
    } catch {
      return null;
    }
  };
  let bin = which();
  if (bin) return { bin };
  if (process.env.BENCH_NO_INSTALL) return { why: 'pgloader is not installed (BENCH_NO_INSTALL is set, so it was not installed)' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { why: 'pgloader is not installed; install it with `sudo apt-get install -y pgloader`' };
  log('pgloader missing: apt-get install -y pgloader');
  try {
    execFileSync('sh', ['-c', 'apt-get install -y pgloader >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y pgloader >/dev/null)'], { stdio: 'inherit' });
  } catch (e) {
    return { why: `pgloader could not be installed with apt-get: ${e.message}` };
  }
  bin = which();
  return bin ? { bin } : { why: 'pgloader is still not on PATH after apt-get install' };
}

/** Switchyard's two data tables, as its schema names them (default table prefix) in the SQLite source and the target. */
const USERS = 'switchyard_users';
const DOCUMENTS = 'switchyard_documents';

async function counts(services, url) {
  const [r] = await services.query(url, `SELECT (SELECT count(*) FROM ${USERS})::int AS users, (SELECT count(*) FROM ${DOCUMENTS})::int AS documents`);
  return r;
}

async function runPgloader(ctx, bin, sqlite, rows) {
  const url = await ctx.services.freshDatabase('rel_pgl');
  const cmdFile = path.join(ctx.tmpDir, 'relational.load');
  // Only the two data tables; pgloader's defaults otherwise (create tables, indexes after the load, 4 workers).
  fs.writeFileSync(
    cmdFile,
    [
      `LOAD DATABASE`,
      `  FROM sqlite://${sqlite}`,
      `  INTO ${url}`,
      `  WITH include drop, create tables, create indexes, reset sequences`,
      // TypeORM's SQLite default datetime('now') is not valid in PostgreSQL: without this rule pgloader stops at CREATE TABLE.
      `  CAST type datetime to timestamptz drop default`,
      `  INCLUDING ONLY TABLE NAMES LIKE '${USERS}', '${DOCUMENTS}';`,
      '',
    ].join('\n'),
  );
  await ctx.checkpoint();
  const r = await runMeasured(bin, [cmdFile], { quiet: true, cwd: ctx.tmpDir });
  fs.writeFileSync(path.join(ctx.outDir, `pgloader-${ctx.scaleName}.log`), r.stdout + r.stderr);
  // pgloader exits 0 even after a FATAL error (e.g. a schema it cannot create): look at its log too.
  const fatal = (r.stdout + r.stderr).split('\n').filter((l) => / (FATAL|ERROR) /.test(l));
  if (r.code !== 0 || fatal.length) throw new Error(`pgloader exited ${r.code}: ${fatal.slice(0, 5).join(' / ') || (r.stdout + r.stderr).split('\n').slice(-25).join('\n')}`);
  const c = await counts(ctx.services, url);
  const types = await ctx.services.query(url, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN ('${USERS}','${DOCUMENTS}') ORDER BY table_name, ordinal_position`);
  await ctx.services.drop(url);
  const loaded = c.users + c.documents;
  const summary = (r.stdout + r.stderr).split('\n').filter((l) => /Total import time|documents|users/.test(l) && /\d/.test(l));
  return { items: loaded, ms: r.elapsedMs, peakRssKiB: r.peakRssKiB, cpuMs: r.cpuMs, expected: rows, summary, types };
}

async function run(ctx) {
  const { users, docs } = ctx.scale.relational;
  const sqlite = await ensureSqlite(ctx, users, docs);
  const rows = users + docs;
  const out = { title: `relational: SQLite (${num(users)} users + ${num(docs)} documents, ${num(sqlite.mib)} MiB) -> PostgreSQL`, tables: [], checks: [], notes: [] };

  // Anchor first, then Switchyard: both read a SQLite file that is in the page cache (just generated or read).
  const pgl = findPgloader(ctx.log);
  let anchor = null;
  if (pgl.bin) {
    ctx.log('pgloader ...');
    anchor = await runPgloader(ctx, pgl.bin, sqlite.file, rows);
    if (anchor.items !== rows) out.notes.push(`pgloader loaded ${anchor.items} of ${rows} rows (see bench/out/pgloader-${ctx.scaleName}.log).`);
    const typeOf = (t, c) => (anchor.types.find((x) => x.table_name === `switchyard_${t}` && x.column_name === c) || {}).data_type;
    out.notes.push(
      `pgloader's own schema (from SQLite's declared types): documents.metadata ${typeOf('documents', 'metadata')}, documents.created_at ${typeOf('documents', 'created_at')}, users.active ${typeOf('users', 'active')}; ` +
        'Switchyard writes into its own migrated schema (json, timestamp, boolean) and keeps its indexes in place during the load; pgloader builds its indexes after the load and does not verify.',
    );
  } else {
    out.notes.push(`Anchor not run: ${pgl.why}.`);
  }

  ctx.log('Switchyard MigrationService RELATIONAL ...');
  const url = await ctx.services.freshDatabase('rel_sy');
  await ctx.checkpoint();
  const sy = await runWorker('relational-switchyard', { sqlite: sqlite.file, pgUrl: url, dataDir: ctx.tmpDir }, { side: 'switchyard' });
  const c = await counts(ctx.services, url);
  await ctx.services.drop(url);
  if (c.users + c.documents !== rows) throw new Error(`Switchyard left ${c.users + c.documents} rows in the target, expected ${rows}`);

  const b = sy.breakdown;
  const syRate = rate(sy.items, sy.ms);
  const anchorRate = anchor ? rate(anchor.items, anchor.ms) : null;
  const copyRate = rate(sy.items, b.copyMs + b.openTargetMs);
  const rowsTable = [];
  if (anchor) rowsTable.push(sideRow('pgloader (whole process)', anchor, { 'vs pgloader': '1.00x' }));
  rowsTable.push(sideRow('Switchyard job (copy + verify)', sy, { 'vs pgloader': anchor ? ratio(syRate / anchorRate) : '-' }));
  rowsTable.push({ side: '  of which copy (open target, plan, copy)', records: num(sy.items), 'wall s': secs(b.copyMs + b.openTargetMs), 'records/s': num(copyRate), 'peak RSS MiB': '', 'vs pgloader': anchor ? ratio(copyRate / anchorRate) : '-' });
  rowsTable.push({ side: '  of which verification (checksums)', records: '', 'wall s': secs(b.verifyMs), 'records/s': '', 'peak RSS MiB': '', 'vs pgloader': '' });
  out.tables.push({ title: 'Throughput (rows = users + documents)', rows: rowsTable });
  out.tables.push({
    title: 'Switchyard per table (copy time incl. its share of reads)',
    rows: Object.entries(b)
      .filter(([k]) => k.startsWith('step:'))
      .map(([k, v]) => ({ table: k.slice(5, -2), 'copy s': secs(v) })),
  });
  if (anchor && anchor.summary.length) out.notes.push(`pgloader summary: ${anchor.summary.map((l) => l.trim().replace(/\s+/g, ' ')).join(' / ')}`);
  out.checks.push({ metric: 'relational rows/s vs pgloader (whole job incl. verification)', measured: anchor ? syRate / anchorRate : null, target: '>= 1.0x', met: anchor ? syRate >= anchorRate : null });
  out.checks.push({ metric: 'relational rows/s vs pgloader (copy phase only)', measured: anchor ? copyRate / anchorRate : null, target: 'info', met: null });
  out.raw = { switchyard: sy, pgloader: anchor, sqlite };
  return out;
}

module.exports = { run, title: 'relational' };
