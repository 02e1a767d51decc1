#!/usr/bin/env node
'use strict';
/**
 * Benchmark smoke run for CI: every benchmark (or the ones named) at `--scale tiny`, so a change that
 * breaks the benchmarks fails CI instead of being found at the next measurement. It checks that they
 * run, not how fast: missed targets at this size are noise and do not fail it.
 *
 *   npm run bench:smoke                 # all benchmarks, tiny (about 2 minutes on a 2-core machine)
 *   npm run bench:smoke -- relational   # only these
 *
 * Exits non-zero when the run fails, a benchmark reports an error or produced no table, or the run takes
 * longer than BENCH_SMOKE_TIMEOUT_S (default 900). Output goes to a temp dir (removed afterwards), not
 * bench/out; pgloader is not installed (BENCH_NO_INSTALL=1 unless set), so without it the relational
 * anchor is skipped with a note.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const names = process.argv.slice(2);
if (names.some((a) => a.startsWith('-'))) {
  process.stderr.write('usage: npm run bench:smoke [-- <benchmark>...]   (always --scale tiny)\n');
  process.exit(2);
}
const wanted = names.length ? names : ['all'];
const timeoutS = Number(process.env.BENCH_SMOKE_TIMEOUT_S || 900);
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-smoke-'));
const started = Date.now();

const child = spawn(process.execPath, [path.join(__dirname, 'run.js'), ...wanted, '--scale', 'tiny'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { BENCH_NO_INSTALL: '1', ...process.env, BENCH_OUT_DIR: outDir },
});
let timedOut = false;
// SIGINT first: run.js stops the servers it started; SIGKILL if it does not end.
const timer = setTimeout(() => {
  timedOut = true;
  child.kill('SIGINT');
  setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
}, timeoutS * 1000);

/** The error's first lines without Node's warnings, e.g. "x failed with exit 1: TypeError: ...". */
const firstLines = (text) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/DeprecationWarning|--trace-deprecation|^at /.test(l))
    .slice(0, 2)
    .join(' ');

child.on('close', (code, signal) => {
  clearTimeout(timer);
  const problems = [];
  if (timedOut) problems.push(`did not finish within ${timeoutS} s (BENCH_SMOKE_TIMEOUT_S)`);
  if (code !== 0) problems.push(`bench/run.js exited ${code ?? signal}`);
  const json = fs.readdirSync(outDir).find((f) => f.endsWith('.json'));
  if (!json) problems.push('no results were written');
  else {
    const { sections } = JSON.parse(fs.readFileSync(path.join(outDir, json), 'utf8'));
    for (const [name, s] of Object.entries(sections)) {
      if (s.error) problems.push(`${name}: ${firstLines(s.error)}`);
      else if (!(s.tables || []).length) problems.push(`${name}: produced no table`);
    }
  }
  fs.rmSync(outDir, { recursive: true, force: true });
  const took = `${((Date.now() - started) / 1000).toFixed(0)} s`;
  if (problems.length) {
    process.stderr.write(`\nbench smoke FAILED after ${took}:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stderr.write(`\nbench smoke passed (${wanted.join(', ')}, scale tiny) in ${took}\n`);
});
