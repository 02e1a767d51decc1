'use strict';
/**
 * Jest globalTeardown: stop only the servers test/global-setup.js started (external
 * TEST_DATABASE_URL / TEST_CHROMA_URL servers are left alone) and remove test/.services.json.
 */
const fs = require('node:fs');
const path = require('node:path');
const { defaultLog: log, elapsed } = require('../scripts/services/common');

const STATE_FILE = path.join(__dirname, '.services.json');
const STATE_KEY = '__SWITCHYARD_TEST_SERVICES__';

module.exports = async function globalTeardown() {
  const state = globalThis[STATE_KEY];
  if (!state) return;
  delete globalThis[STATE_KEY];
  const t0 = Date.now();
  const stops = state.stops.splice(0);
  await Promise.all(
    stops.map(({ name, stop }) => stop().catch((e) => log(`${name}: stop failed: ${e.message}`))),
  );
  try {
    const saved = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'));
    if (saved.owner === state.owner) fs.rmSync(STATE_FILE, { force: true });
  } catch {
    /* missing or unreadable: nothing to clean */
  }
  if (stops.length) log(`test services stopped in ${elapsed(t0)}`);
};
