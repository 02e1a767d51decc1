#!/usr/bin/env node
'use strict';
/**
 * Real servers for tests and local development: PostgreSQL 17 + pgvector (Debian trixie binaries
 * unpacked into .cache/pg17, see scripts/services/postgres.js) and Chroma (npm `chromadb`).
 *
 *   node scripts/test-services.js start [--write-env FILE]
 *       start both, print TEST_DATABASE_URL=… / TEST_CHROMA_URL=… on stdout (and into FILE),
 *       keep running until SIGINT/SIGTERM, then stop them and remove their temp data.
 *   node scripts/test-services.js prepare
 *       only download/unpack the PostgreSQL binaries (cached; no-op when already there).
 *
 * Programmatic use: require('./scripts/test-services') exports startServices() and the
 * per-service helpers (startPostgres, createDatabase, dropDatabase, startChroma, …).
 */
const fs = require('node:fs');
const path = require('node:path');
const postgres = require('./services/postgres');
const chroma = require('./services/chroma');
const redis = require('./services/redis');
const { defaultLog, elapsed } = require('./services/common');

/**
 * Start PostgreSQL 17 + pgvector and Chroma in parallel.
 * Returns { env: { TEST_DATABASE_URL, TEST_CHROMA_URL, REDIS_URL }, postgres, chroma, redis, stop() }.
 */
async function startServices({ log = defaultLog } = {}) {
  const t0 = Date.now();
  const results = await Promise.allSettled([postgres.startPostgres({ log }), chroma.startChroma({ log }), redis.startRedis({ log })]);
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) {
    await Promise.all(results.filter((r) => r.status === 'fulfilled').map((r) => r.value.stop()));
    throw failed[0].reason;
  }
  const [pg, ch, rd] = results.map((r) => r.value);
  log(`services ready in ${elapsed(t0)}`);
  return {
    env: { TEST_DATABASE_URL: pg.url, TEST_CHROMA_URL: ch.url, REDIS_URL: rd.url },
    postgres: pg,
    chroma: ch,
    redis: rd,
    stop: () => Promise.all([pg.stop(), ch.stop(), rd.stop()]).then(() => undefined),
  };
}

function usage() {
  process.stderr.write(
    [
      'usage: node scripts/test-services.js <command>',
      '',
      '  start [--write-env FILE]  start PostgreSQL 17 + pgvector and Chroma, print their URLs',
      '                           (TEST_DATABASE_URL=…, TEST_CHROMA_URL=…), run until Ctrl-C',
      '  prepare                  download/unpack the PostgreSQL binaries only',
      '',
    ].join('\n'),
  );
}

async function main(argv = process.argv.slice(2)) {
  const [cmd, ...rest] = argv;
  if (cmd === 'prepare') {
    const t0 = Date.now();
    const { root, downloaded } = await postgres.ensurePostgresBinaries();
    defaultLog(`PostgreSQL ${postgres.PG_MAJOR}+pgvector binaries ${downloaded ? 'installed' : 'already present'} in ${root} (${elapsed(t0)})`);
    return 0;
  }
  if (cmd === 'start') {
    let envFile;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === '--write-env' && rest[i + 1]) envFile = path.resolve(rest[++i]);
      else if (rest[i].startsWith('--write-env=')) envFile = path.resolve(rest[i].slice('--write-env='.length));
      else {
        usage();
        return 2;
      }
    }
    const services = await startServices();
    const lines = Object.entries(services.env).map(([k, v]) => `${k}=${v}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (envFile) fs.writeFileSync(envFile, `${lines.join('\n')}\n`);
    defaultLog('running; press Ctrl-C (or send SIGTERM) to stop');

    return new Promise((resolve) => {
      let stopping = false;
      const shutdown = async (why, code) => {
        if (stopping) return;
        stopping = true;
        defaultLog(`${why}; stopping…`);
        await services.stop().catch((e) => defaultLog(`stop failed: ${e.message}`));
        if (envFile) fs.rmSync(envFile, { force: true });
        resolve(code);
      };
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => shutdown(`received ${sig}`, 0));
      services.postgres.exited.then((c) => shutdown(`PostgreSQL exited unexpectedly (${c})`, 1));
      services.chroma.exited.then((c) => shutdown(`Chroma exited unexpectedly (${c})`, 1));
    });
  }
  usage();
  return cmd ? 2 : 0;
}

module.exports = {
  startServices,
  main,
  ensurePostgresBinaries: postgres.ensurePostgresBinaries,
  startPostgres: postgres.startPostgres,
  createDatabase: postgres.createDatabase,
  dropDatabase: postgres.dropDatabase,
  checkPostgres: postgres.checkPostgres,
  startChroma: chroma.startChroma,
  checkChroma: chroma.checkChroma,
};

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`[services] ERROR: ${err && err.stack ? err.stack : err}\n`);
      process.exit(1);
    },
  );
}
