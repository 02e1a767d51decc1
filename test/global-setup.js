'use strict';
/**
 * Jest globalSetup: make real backing services available to the tests.
 *
 * - PostgreSQL with pgvector: TEST_DATABASE_URL if set (checked: reachable, `vector` extension
 *   present or creatable), otherwise a private PostgreSQL 17 + pgvector started from
 *   .cache/pg17 (downloaded from Debian trixie on first use; see scripts/services/postgres.js).
 * - Chroma: TEST_CHROMA_URL if set (heartbeat checked), otherwise a private Chroma server from
 *   the npm `chromadb` package.
 * - Test models: if scripts/generate-test-model.js exports ensureTestModels(), it is awaited and
 *   the env vars it returns are set.
 *
 * The resulting TEST_DATABASE_URL / TEST_CHROMA_URL (+ model vars) are put into process.env
 * (inherited by the test workers / visible in-band) and written to test/.services.json as a
 * fallback. Servers started here are stopped by test/global-teardown.js; if Jest dies instead,
 * process-exit hooks and detached watchdogs kill them and remove their /tmp data dirs.
 *
 * - Redis (the queue tests): REDIS_URL if set, else the machine's 127.0.0.1:6379, else a private
 *   redis-server (scripts/services/redis.js).
 *
 * Set SWITCHYARD_TEST_SERVICES=0 to skip all of this (e.g. for pure unit-test runs).
 */
const fs = require('node:fs');
const path = require('node:path');
const { startPostgres, checkPostgres } = require('../scripts/services/postgres');
const { startChroma, checkChroma } = require('../scripts/services/chroma');
const { startRedis } = require('../scripts/services/redis');
const { defaultLog: log, elapsed, redactUrl } = require('../scripts/services/common');

const ROOT = path.resolve(__dirname, '..');
const STATE_FILE = path.join(__dirname, '.services.json');
const MODEL_SCRIPT = path.join(ROOT, 'scripts', 'generate-test-model.js');
const STATE_KEY = '__SWITCHYARD_TEST_SERVICES__';

async function setupPostgres(state) {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    const t0 = Date.now();
    const info = await checkPostgres(external).catch((e) => {
      throw new Error(
        `${e.message}\n→ TEST_DATABASE_URL must point at a PostgreSQL server with pgvector whose user may ` +
          'CREATE EXTENSION vector (and CREATE DATABASE for isolated test databases). Unset ' +
          'TEST_DATABASE_URL to let the tests start their own PostgreSQL 17 + pgvector.',
      );
    });
    log(`PostgreSQL: using TEST_DATABASE_URL=${redactUrl(external)} (server ${info.serverVersion}, vector ${info.vectorVersion}; checked in ${elapsed(t0)})`);
    return { TEST_DATABASE_URL: external };
  }
  const pg = await startPostgres({ log });
  state.stops.push({ name: 'PostgreSQL', stop: pg.stop });
  state.pids.push(pg.pid);
  return { TEST_DATABASE_URL: pg.url };
}

async function setupChroma(state) {
  const external = process.env.TEST_CHROMA_URL;
  if (external) {
    const t0 = Date.now();
    await checkChroma(external).catch((e) => {
      throw new Error(`${e.message}\n→ Unset TEST_CHROMA_URL to let the tests start their own Chroma server.`);
    });
    log(`Chroma: using TEST_CHROMA_URL=${redactUrl(external)} (heartbeat ok in ${elapsed(t0)})`);
    return { TEST_CHROMA_URL: external.replace(/\/+$/, '') };
  }
  const ch = await startChroma({ log });
  state.stops.push({ name: 'Chroma', stop: ch.stop });
  state.pids.push(ch.pid);
  return { TEST_CHROMA_URL: ch.url };
}

async function setupRedis(state) {
  const r = await startRedis({ log });
  state.stops.push({ name: 'Redis', stop: r.stop });
  if (r.pid) state.pids.push(r.pid);
  return { REDIS_URL: r.url };
}

async function setupModels() {
  if (!fs.existsSync(MODEL_SCRIPT)) return {};
  const mod = require(MODEL_SCRIPT);
  const ensure = mod && (mod.ensureTestModels || (mod.default && mod.default.ensureTestModels));
  if (typeof ensure !== 'function') {
    log('test models: scripts/generate-test-model.js does not export ensureTestModels(); skipped');
    return {};
  }
  const t0 = Date.now();
  const vars = (await ensure({ log })) || {};
  const env = {};
  for (const [k, v] of Object.entries(vars)) if (v !== undefined && v !== null) env[k] = String(v);
  log(`test models: ready in ${elapsed(t0)} (${Object.keys(env).join(', ') || 'no env vars'})`);
  return env;
}

async function stopAll(state) {
  const stops = state.stops.splice(0);
  await Promise.all(
    stops.map(({ name, stop }) => stop().catch((e) => log(`${name}: stop failed: ${e.message}`))),
  );
}

module.exports = async function globalSetup() {
  if (/^(0|false|off|no)$/i.test(process.env.SWITCHYARD_TEST_SERVICES || '')) {
    log('SWITCHYARD_TEST_SERVICES=0: not starting/checking test services');
    return;
  }
  const t0 = Date.now();
  const state = { stops: [], pids: [], owner: process.pid };
  globalThis[STATE_KEY] = state;

  // ensureTestModels() may be synchronous (CPU-bound): call it first so it does not stall the
  // servers' readiness polling; the servers then start in parallel.
  const results = await Promise.allSettled([setupModels(), setupPostgres(state), setupChroma(state), setupRedis(state)]);
  const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  if (failures.length) {
    await stopAll(state);
    delete globalThis[STATE_KEY];
    const msg = failures.map((e) => (e && e.message) || String(e)).join('\n\n');
    throw new Error(`test service setup failed:\n${msg}`);
  }

  const env = Object.assign({}, ...results.map((r) => r.value));
  Object.assign(process.env, env);
  state.env = env;
  fs.writeFileSync(
    STATE_FILE,
    `${JSON.stringify({ ...env, owner: process.pid, pids: state.pids, startedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  log(`test services ready in ${elapsed(t0)}`);
};
