'use strict';
/**
 * A throw-away Chroma server for tests, using the server built into the npm `chromadb` package
 * (`chromadb-js-bindings-linux-x64-gnu`, pinned to 1.0.5 via npm overrides).
 *
 *   startChroma({ log })  -> { url, port, dataDir, stop({ keepData }) }
 *   checkChroma(url)      -> heartbeat value (throws a readable Error if unreachable)
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const {
  PROJECT_ROOT,
  servicesTmpDir,
  defaultLog,
  elapsed,
  sleep,
  getFreePort,
  tailFile,
  rmrf,
  guardChild,
  stopChild,
  redactUrl,
} = require('./common');

function chromaCliPath() {
  let main;
  try {
    main = require.resolve('chromadb', { paths: [PROJECT_ROOT] }); // .../chromadb/dist/cjs/chromadb.cjs
  } catch {
    throw new Error('npm package "chromadb" is not installed (run npm install)');
  }
  let dir = path.dirname(main);
  while (dir !== path.dirname(dir) && !fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  const cli = path.join(dir, 'dist', 'cli.mjs');
  if (!fs.existsSync(cli)) throw new Error(`Chroma CLI not found at ${cli}`);
  return cli;
}

async function heartbeat(url, timeoutMs = 2000) {
  const res = await fetch(`${url.replace(/\/+$/, '')}/api/v2/heartbeat`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET /api/v2/heartbeat -> HTTP ${res.status}`);
  const body = await res.json();
  return body['nanosecond heartbeat'];
}

/** Throws a readable error if there is no Chroma (v2 API) at `url`. */
async function checkChroma(url) {
  try {
    return await heartbeat(url, 5000);
  } catch (e) {
    throw new Error(`Chroma at ${redactUrl(url)} is not usable for tests: ${e.cause ? e.cause.message || e.cause.code : e.message}`);
  }
}

/** Start Chroma on 127.0.0.1:<free port> with data in a fresh /tmp dir (removed on stop). */
async function startChroma({ log = defaultLog } = {}) {
  const cli = chromaCliPath();
  const t0 = Date.now();
  const tmp = fs.mkdtempSync(path.join(servicesTmpDir(), 'switchyard-chroma-'));
  const dataDir = path.join(tmp, 'data');
  const logFile = path.join(tmp, 'chroma.log');
  fs.mkdirSync(dataDir);
  const env = { ...process.env, ANONYMIZED_TELEMETRY: 'False', NO_COLOR: '1' };

  for (let attempt = 1; ; attempt++) {
    const port = await getFreePort();
    const url = `http://127.0.0.1:${port}`;
    const fd = fs.openSync(logFile, 'a');
    const child = spawn(process.execPath, [cli, 'run', '--path', dataDir, '--host', '127.0.0.1', '--port', String(port)], {
      cwd: tmp,
      env,
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    child.on('error', () => {});
    const dispose = guardChild(child, { signal: 'TERM', dir: tmp });

    const deadline = Date.now() + 30000;
    let ready = false;
    let lastErr;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      try {
        await heartbeat(url, 1000);
        ready = true;
        break;
      } catch (e) {
        lastErr = e;
      }
      if (Date.now() > deadline) break; // checked after an attempt: a blocked event loop must not cause a false timeout
      await sleep(50);
    }
    if (!ready) {
      const died = child.exitCode !== null || child.signalCode !== null;
      await stopChild(child, 'SIGTERM', 5000);
      dispose();
      const tail = tailFile(logFile);
      if (attempt < 3 && /address already in use|AddrInUse/i.test(tail)) continue;
      rmrf(tmp);
      throw new Error(
        `Chroma ${died ? `exited during startup (${child.exitCode ?? child.signalCode})` : `did not answer heartbeats within 30 s (${lastErr && lastErr.message})`}:\n${tail}`,
      );
    }

    let stopping;
    /** `keepData`: leave the data directory (a test reads it after the server stopped; it removes it). */
    const stop = ({ keepData = false } = {}) => {
      stopping ??= (async () => {
        const ts = Date.now();
        await stopChild(child, 'SIGTERM', 10000);
        dispose();
        if (!keepData) rmrf(tmp);
        log(`Chroma: stopped in ${elapsed(ts)}`);
      })();
      return stopping;
    };
    log(`Chroma: started on ${url} (pid ${child.pid}, data ${dataDir}) in ${elapsed(t0)}`);
    const exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode);
      else child.once('exit', (code, sig) => resolve(code ?? sig));
    });
    return { url, port, pid: child.pid, dataDir, logFile, stop, exited };
  }
}

module.exports = { startChroma, checkChroma, chromaCliPath };
