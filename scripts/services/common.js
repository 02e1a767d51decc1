'use strict';
/**
 * Small helpers shared by the test-service launchers (postgres.js, chroma.js).
 * Plain CommonJS so Jest's globalSetup and plain `node` can load it.
 */
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Parent folder for server temp/data dirs: $SWITCHYARD_SERVICES_TMPDIR (e.g. /dev/shm, ~2x faster
 * initdb on this VM's disk) or the OS temp dir (/tmp).
 */
function servicesTmpDir() {
  return process.env.SWITCHYARD_SERVICES_TMPDIR || os.tmpdir();
}

function defaultLog(msg) {
  process.stderr.write(`[services] ${msg}\n`);
}

/** Seconds since `t0` (from Date.now()), formatted "1.23s". */
function elapsed(t0) {
  return `${((Date.now() - t0) / 1000).toFixed(2)}s`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Ask the kernel for a free TCP port on 127.0.0.1 (bind port 0, read it, close). */
function getFreePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Last `n` lines of a (log) file, '' if unreadable. */
function tailFile(file, n = 30) {
  try {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    return lines.slice(-n).join('\n').trim();
  } catch {
    return '';
  }
}

function rmrf(p) {
  if (!p) return;
  try {
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    /* best effort */
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/**
 * Start a detached watchdog shell that waits for THIS node process to die and then
 * stops `pid` (signal, then SIGKILL after `graceSec`) and removes `dir`.
 * This covers the case where the parent is SIGKILLed / crashes and no 'exit' handler runs.
 * Returns the watchdog's ChildProcess (unref'd; kill it on orderly shutdown).
 */
function spawnWatchdog({ pid, signal = 'TERM', graceSec = 10, dir }) {
  const script = [
    'parent=$1; target=$2; sig=$3; grace=$4; dir=$5',
    'trap "" INT HUP',
    // alive = exists and is not a zombie (orphans may sit unreaped for a while)
    'alive() { if [ -r "/proc/$1/stat" ]; then s=$(sed -n "s/^.*) \\(.\\).*/\\1/p" "/proc/$1/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; else kill -0 "$1" 2>/dev/null; fi; }',
    'while alive "$parent"; do sleep 1; done',
    'kill -"$sig" "$target" 2>/dev/null',
    'i=0; while alive "$target" && [ "$i" -lt "$((grace * 10))" ]; do sleep 0.1; i=$((i + 1)); done',
    'kill -KILL "$target" 2>/dev/null',
    '[ -n "$dir" ] && rm -rf -- "$dir"',
    'exit 0',
  ].join('\n');
  const child = spawn(
    '/bin/sh',
    ['-c', script, 'switchyard-watchdog', String(process.pid), String(pid), signal, String(graceSec), dir || ''],
    { detached: true, stdio: 'ignore' },
  );
  child.on('error', () => {});
  child.unref();
  return child;
}

/**
 * Make sure `child` (and its temp dir) does not outlive this process:
 * - a process 'exit' hook SIGKILLs it and removes the dir (synchronous, runs on process.exit / normal end),
 * - a detached watchdog handles the case where this process is killed hard.
 * Returns `dispose()` to call after an orderly stop.
 */
function guardChild(child, { signal = 'TERM', dir } = {}) {
  const watchdog = spawnWatchdog({ pid: child.pid, signal, dir });
  const onExit = () => {
    try {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    try {
      process.kill(watchdog.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    rmrf(dir);
  };
  process.on('exit', onExit);
  return function dispose() {
    process.removeListener('exit', onExit);
    try {
      process.kill(watchdog.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
}

/** Resolves when `child` has exited (immediately if it already has). */
function waitForExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(false);
    }, timeoutMs);
    function onExit() {
      clearTimeout(timer);
      resolve(true);
    }
    child.once('exit', onExit);
  });
}

/** Send `signal`, wait up to `timeoutMs`, then SIGKILL. */
async function stopChild(child, signal, timeoutMs = 10000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    /* ignore */
  }
  if (await waitForExit(child, timeoutMs)) return;
  try {
    child.kill('SIGKILL');
  } catch {
    /* ignore */
  }
  await waitForExit(child, 5000);
}

/** Replace user:password in a URL with user:*** for messages. */
function redactUrl(url) {
  try {
    const u = new URL(url);
    if (!u.password) return String(url);
    u.password = '***';
    return u.toString();
  } catch {
    return String(url);
  }
}

module.exports = {
  PROJECT_ROOT,
  servicesTmpDir,
  defaultLog,
  elapsed,
  sleep,
  getFreePort,
  tailFile,
  rmrf,
  isAlive,
  guardChild,
  waitForExit,
  stopChild,
  redactUrl,
};
