#!/usr/bin/env node
'use strict';
/**
 * Switchyard benchmarks: each one generates its data deterministically, runs Switchyard and its anchor in
 * turn on the same data (each side in its own process, peak RSS measured with /usr/bin/time -v), and
 * prints a table with throughput, wall time, peak RSS and the ratio against the anchor and the target.
 *
 *   npm run bench -- <relational|vectors|reindex|memory|search|live|queue|all> [--scale tiny|small|medium|large] [--no-build]
 *
 * Output: the tables on stdout; the same as Markdown in bench/out/latest-<scale>.md (plus a timestamped
 * copy and the raw numbers as JSON). Not part of the test suite.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { BENCH_DIR, ROOT, hasTime } = require('./lib/child');
const { Services } = require('./lib/services');
const { table } = require('./lib/format');
const SCALES = require('./lib/scales');

const BENCHMARKS = {
  relational: require('./lib/benchmarks/relational'),
  vectors: require('./lib/benchmarks/vectors'),
  reindex: require('./lib/benchmarks/reindex'),
  memory: require('./lib/benchmarks/memory'),
  search: require('./lib/benchmarks/search'),
  live: require('./lib/benchmarks/live'),
  queue: require('./lib/benchmarks/queue'),
};

function usage(msg) {
  if (msg) process.stderr.write(`${msg}\n\n`);
  process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}|all> [--scale ${Object.keys(SCALES).join('|')}] [--no-build]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { names: [], scale: 'small', build: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--scale') o.scale = argv[++i];
    else if (a.startsWith('--scale=')) o.scale = a.slice(8);
    else if (a === '--no-build') o.build = false;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else o.names.push(a);
  }
  if (!o.names.length) usage('name a benchmark, or all');
  if (!SCALES[o.scale]) usage(`unknown scale ${o.scale}`);
  if (o.names.includes('all')) o.names = Object.keys(BENCHMARKS);
  for (const n of o.names) if (!BENCHMARKS[n]) usage(`unknown benchmark ${n}`);
  return o;
}

const log = (m) => process.stderr.write(`  ${m}\n`);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

/** Compiles libs/ and bench/src with tsc into bench/.build (the workers run the compiled JavaScript). */
function build() {
  const t0 = Date.now();
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(BENCH_DIR, 'tsconfig.json')], { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
  } catch (e) {
    // tsc still emits on type errors; run with what was emitted, but say so.
    process.stderr.write(`warning: tsc reported errors (the benchmarks run the emitted JavaScript anyway):\n${String(e.stdout).split('\n').slice(0, 20).join('\n')}\n`);
  }
  log(`compiled libs/ + bench/src into bench/.build in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function machine() {
  let date = new Date().toString();
  try {
    date = execFileSync('date', { encoding: 'utf8' }).trim();
  } catch {
    /* keep */
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'libs', 'apps'], { encoding: 'utf8' }).trim();
    if (dirty) commit += ' + uncommitted changes in libs/ or apps/';
  } catch {
    /* not a git checkout */
  }
  return {
    date,
    host: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: `${os.cpus().length} x ${os.cpus()[0] ? os.cpus()[0].model : 'unknown'}`,
    nproc: os.cpus().length,
    ramGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    loadAtStart: load(),
    commit,
  };
}

function sectionMarkdown(name, s) {
  const lines = [`## ${s.title}`, ''];
  if (s.error) lines.push(`**FAILED**: ${s.error}`, '');
  for (const t of s.tables || []) {
    lines.push(`**${t.title}**`, '', table(Object.keys(t.rows[0] || { '': '' }), t.rows), '');
  }
  for (const n of s.notes || []) lines.push(`- ${n}`);
  lines.push(`- load average before / after: ${s.loadBefore} / ${s.loadAfter}; ${s.seconds} s for this benchmark.`, '');
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const scale = SCALES[o.scale];
  const started = Date.now();
  // BENCH_OUT_DIR: somewhere else for the tables and raw numbers (the smoke run uses a temp dir).
  const outDir = process.env.BENCH_OUT_DIR ? path.resolve(process.env.BENCH_OUT_DIR) : path.join(BENCH_DIR, 'out');
  const dataDir = path.join(BENCH_DIR, '.cache', 'data');
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-'));
  for (const d of [outDir, dataDir]) fs.mkdirSync(d, { recursive: true });
  if (!hasTime) log('warning: /usr/bin/time not found; peak RSS comes from the workers themselves (process.resourceUsage().maxRSS)');
  if (o.build) build();

  const services = new Services();
  const stopAll = () => services.stop().catch(() => undefined);
  process.once('SIGINT', () => stopAll().then(() => process.exit(130)));
  const m = machine();
  const versions = await services.versions();
  const ctx = {
    scale,
    scaleName: o.scale,
    services,
    dataDir,
    tmpDir,
    outDir,
    log,
    /** Flushes PostgreSQL's dirty buffers so one run's writes are not paid by the next. */
    checkpoint: async () => services.query((await services.postgres()).baseUrl, 'CHECKPOINT').catch(() => undefined),
  };

  const header = [
    `# Switchyard benchmarks: ${o.names.join(', ')} (scale ${o.scale})`,
    '',
    `- date: ${m.date}; commit ${m.commit}`,
    `- machine: ${m.cpu} (nproc ${m.nproc}), ${m.ramGiB} GiB RAM, ${m.host}; load average at start ${m.loadAtStart}`,
    `- versions: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '- PostgreSQL: the project\'s test server (scripts/services/postgres.js: fsync=off, synchronous_commit=off, default shared_buffers / maintenance_work_mem), a fresh database per run; Chroma: the npm package\'s bundled server. Both run on this same machine, so they share its 2 cores with the side being measured.',
    '- peak RSS: maximum resident set of the measured process alone (GNU time -v), not of the PostgreSQL / Chroma servers.',
    '',
  ].join('\n');
  process.stdout.write(`${header}\n`);

  const sections = {};
  const checks = [];
  try {
    for (const name of o.names) {
      const t0 = Date.now();
      const loadBefore = load();
      log(`--- ${name} (scale ${o.scale}) ---`);
      let s;
      try {
        s = await BENCHMARKS[name].run(ctx);
      } catch (e) {
        s = { title: name, error: e instanceof Error ? e.message : String(e), tables: [], notes: [], checks: [] };
        process.stderr.write(`${name} failed: ${e && e.stack}\n`);
      }
      s.loadBefore = loadBefore;
      s.loadAfter = load();
      s.seconds = Math.round((Date.now() - t0) / 1000);
      sections[name] = s;
      for (const c of s.checks || []) checks.push({ benchmark: name, ...c });
      process.stdout.write(`${sectionMarkdown(name, s)}\n`);
    }
  } finally {
    await stopAll();
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }

  const summary = table(
    ['benchmark', 'metric', 'measured', 'target', 'met'],
    checks.map((c) => ({ ...c, measured: typeof c.measured === 'number' ? `${c.measured.toFixed(c.measured < 10 ? 3 : 1)}x` : (c.measured ?? '-'), met: c.met === null || c.met === undefined ? '-' : c.met ? 'yes' : '**NO**' })),
  );
  const footer = `## Targets\n\n${summary}\n\nTotal ${((Date.now() - started) / 1000).toFixed(0)} s; load average at the end ${load()}.\n`;
  process.stdout.write(`${footer}`);

  const md = `${header}\n${o.names.map((n) => sectionMarkdown(n, sections[n])).join('\n')}\n${footer}`;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(outDir, `latest-${o.scale}.md`), md);
  fs.writeFileSync(path.join(outDir, `${stamp}-${o.scale}.md`), md);
  fs.writeFileSync(path.join(outDir, `${stamp}-${o.scale}.json`), JSON.stringify({ machine: m, versions, scale: o.scale, sizes: scale, sections, checks }, null, 2));
  log(`written: ${path.relative(process.cwd(), path.join(outDir, `latest-${o.scale}.md`))} (and ${stamp}-${o.scale}.{md,json})`);
  if (Object.values(sections).some((s) => s.error)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
