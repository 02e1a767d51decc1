#!/usr/bin/env node
'use strict';
/**
 * The browser the console's end-to-end tests drive: Debian's Chromium (`chromium`), driven by playwright-core
 * (which downloads no browser of its own). Installs the package when it is missing: as root with apt-get,
 * otherwise through sudo. CHROMIUM_PATH names another Chromium instead (then nothing is installed).
 *
 *   npm run setup:browser
 */
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');

const wanted = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const version = (bin) => {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
};

if (fs.existsSync(wanted) && version(wanted)) {
  console.log(`[setup:browser] ${version(wanted)} at ${wanted}`);
  process.exit(0);
}
if (process.env.CHROMIUM_PATH) {
  console.error(`[setup:browser] CHROMIUM_PATH=${wanted} is not a working Chromium`);
  process.exit(1);
}
const root = typeof process.getuid === 'function' && process.getuid() === 0;
const apt = (args) => execFileSync(root ? 'apt-get' : 'sudo', root ? args : ['apt-get', ...args], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
try {
  console.log('[setup:browser] installing Debian\'s chromium package ...');
  try {
    apt(['install', '-y', '--no-install-recommends', 'chromium']);
  } catch {
    apt(['update']);
    apt(['install', '-y', '--no-install-recommends', 'chromium']);
  }
} catch (e) {
  console.error(`[setup:browser] could not install chromium (${e.message}). Install it yourself (apt-get install chromium) or set CHROMIUM_PATH.`);
  process.exit(1);
}
if (!version(wanted)) {
  console.error(`[setup:browser] chromium was installed but ${wanted} does not run`);
  process.exit(1);
}
console.log(`[setup:browser] ${version(wanted)} at ${wanted}`);
