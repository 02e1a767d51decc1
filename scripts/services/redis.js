'use strict';
/**
 * Redis for the queue tests: REDIS_URL if set (checked with PING), else the machine's Redis on
 * 127.0.0.1:6379 if one answers, else a private redis-server (Debian's `redis-server` package; installed
 * with apt-get when missing and running as root) on a free port, keeping nothing on disk.
 */
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const { defaultLog, elapsed, getFreePort, guardChild, servicesTmpDir, sleep, stopChild } = require('./common');

/** PING over RESP; resolves true on +PONG (or a NOAUTH answer: a server is there). */
function ping(url, timeoutMs = 1500) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => {
      const auth = u.password ? `AUTH ${u.username ? `${decodeURIComponent(u.username)} ` : ''}${decodeURIComponent(u.password)}\r\n` : '';
      sock.write(`${auth}PING\r\n`);
    });
    sock.on('data', (d) => done(/\+PONG/.test(String(d))));
  });
}

function redisBinary() {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (fs.existsSync(p)) return p;
  return null;
}

async function startRedis({ log = defaultLog } = {}) {
  const t0 = Date.now();
  if (process.env.REDIS_URL) {
    if (!(await ping(process.env.REDIS_URL))) throw new Error(`REDIS_URL=${process.env.REDIS_URL} does not answer PING; unset it to let the tests use or start a local Redis`);
    log(`Redis: using REDIS_URL (PONG in ${elapsed(t0)})`);
    return { url: process.env.REDIS_URL, stop: async () => undefined };
  }
  const local = 'redis://127.0.0.1:6379';
  if (await ping(local)) {
    log(`Redis: using the local server at ${local}`);
    return { url: local, stop: async () => undefined };
  }
  let bin = redisBinary();
  if (!bin && process.getuid && process.getuid() === 0) {
    log('Redis: none running and no redis-server; installing Debian\'s redis-server');
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    bin = redisBinary();
  }
  if (!bin) throw new Error('Redis: nothing answers at 127.0.0.1:6379 and redis-server is not installed (apt-get install redis-server), or set REDIS_URL');
  const port = await getFreePort();
  const dir = fs.mkdtempSync(path.join(servicesTmpDir(), 'sy-redis-'));
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const dispose = guardChild(child, { dir });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await ping(url)); i++) await sleep(100);
  if (!(await ping(url))) {
    await stopChild(child, 'SIGTERM');
    dispose();
    throw new Error(`Redis: ${bin} did not answer on port ${port}`);
  }
  log(`Redis: started ${bin} on ${url} in ${elapsed(t0)}`);
  return {
    url,
    pid: child.pid,
    stop: async () => {
      await stopChild(child, 'SIGTERM');
      dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startRedis, ping };
