'use strict';
/**
 * Runs one side of a benchmark in its own process under `/usr/bin/time -v`, so its peak RSS (the kernel's
 * maxrss of that process) and elapsed time are its own. Node workers report their result as one
 * `@@BENCH_RESULT {json}` line on stdout.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const BENCH_DIR = path.resolve(__dirname, '..');
const ROOT = path.resolve(BENCH_DIR, '..');
const WORKER = path.join(BENCH_DIR, '.build', 'bench', 'src', 'worker.js');
const REGISTER = path.join(__dirname, 'register.js');
const RESULT_PREFIX = '@@BENCH_RESULT ';
const TIME = '/usr/bin/time';

const hasTime = fs.existsSync(TIME);

/** Parses GNU time -v output. */
function parseTime(text) {
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(text);
  const user = /User time \(seconds\): ([\d.]+)/.exec(text);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(text);
  return {
    peakRssKiB: rss ? Number(rss[1]) : null,
    elapsedMs: wall ? Math.round(((Number(wall[1] || 0) * 60 + Number(wall[2])) * 60 + Number(wall[3])) * 1000) : null,
    cpuMs: user && sys ? Math.round((Number(user[1]) + Number(sys[1])) * 1000) : null,
  };
}

/**
 * Runs `cmd args` (under /usr/bin/time -v when available). Streams the child's stderr to ours (indented)
 * unless quiet. Resolves { code, stdout, stderr, peakRssKiB, elapsedMs, cpuMs }.
 */
function runMeasured(cmd, args, { env = {}, cwd = ROOT, quiet = false, timeoutMs = 0 } = {}) {
  const timeFile = path.join(os.tmpdir(), `bench-time-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const argv = hasTime ? ['-v', '-o', timeFile, cmd, ...args] : args;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(hasTime ? TIME : cmd, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer;
    if (timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!quiet) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let measured = { peakRssKiB: null, elapsedMs: Date.now() - t0, cpuMs: null };
      if (hasTime) {
        try {
          const t = parseTime(fs.readFileSync(timeFile, 'utf8'));
          measured = { ...t, elapsedMs: t.elapsedMs ?? measured.elapsedMs };
        } catch {
          /* no time output (killed) */
        }
        fs.rmSync(timeFile, { force: true });
      }
      resolve({ code: code ?? signal, stdout, stderr, ...measured });
    });
  });
}

/**
 * Runs a worker task (bench/src/worker.ts, compiled) in a fresh Node process; returns its result merged
 * with the process measurements: { items, ms, breakdown, ..., peakRssKiB, elapsedMs, cpuMs }.
 */
async function runWorker(task, args, { side = task, env = {}, nodeArgs = [] } = {}) {
  // BENCH_CPU_PROF=<side>[,<side>...] writes a V8 CPU profile of those sides' workers into
  // BENCH_CPU_PROF_DIR (default bench/out/profiles); summarise one with bench/lib/cpuprofile.js.
  const profiled = (process.env.BENCH_CPU_PROF ?? '').split(',').includes(side);
  if (profiled) nodeArgs = [...nodeArgs, '--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR ?? path.join(ROOT, 'bench', 'out', 'profiles')];
  const r = await runMeasured(process.execPath, [...nodeArgs, '-r', REGISTER, WORKER, task, JSON.stringify(args)], { env: { BENCH_SIDE: side, ...env } });
  const line = r.stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (r.code !== 0 || !line) {
    throw new Error(`${side} (${task}) failed with exit ${r.code}:\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  }
  const result = JSON.parse(line.slice(RESULT_PREFIX.length));
  return { ...result, peakRssKiB: r.peakRssKiB ?? result.maxRssKiB, elapsedMs: r.elapsedMs, cpuMs: r.cpuMs };
}

/**
 * Starts a long-running worker task (it prints `{"ready": ...}` on stdout once it serves, and stops on
 * SIGTERM); resolves with the child once it is ready.
 */
function startWorker(task, args, { side = task, env = {} } = {}) {
  const child = spawn(process.execPath, ['-r', REGISTER, WORKER, task, JSON.stringify(args)], { cwd: ROOT, env: { ...process.env, BENCH_SIDE: side, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d) => process.stderr.write(d));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (/"ready"/.test(out)) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`${side} (${task}) exited with ${code} before it was ready`)));
  });
}

/** SIGTERM, then waits for the exit (SIGKILL after `ms`). */
function stopWorker(child, ms = 15000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => (clearTimeout(t), resolve()));
    child.kill('SIGTERM');
  });
}

module.exports = { runMeasured, runWorker, startWorker, stopWorker, hasTime, BENCH_DIR, ROOT };
