'use strict';
/**
 * The LangChain.js anchor's packages (bench/langchain: its own package.json and lockfile). Installed on
 * first use with `npm ci --legacy-peer-deps` (from the npm registry, ~10 s): @langchain/community
 * declares dozens of optional peers, some of which conflict with Switchyard's own dependencies, so it
 * cannot be one of them. BENCH_NO_LANGCHAIN=1 skips that side.
 */
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const DIR = path.resolve(__dirname, '..', 'langchain');

function ensureLangchain(log) {
  if (process.env.BENCH_NO_LANGCHAIN) return { why: 'the LangChain side was skipped (BENCH_NO_LANGCHAIN is set)' };
  if (fs.existsSync(path.join(DIR, 'node_modules', '@langchain', 'community', 'package.json'))) return { dir: DIR };
  log('installing the LangChain anchor (bench/langchain: npm ci --legacy-peer-deps) ...');
  try {
    execFileSync('npm', ['ci', '--legacy-peer-deps', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: DIR, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    return { why: `the LangChain anchor could not be installed (npm ci in bench/langchain): ${e.message}` };
  }
  return { dir: DIR };
}

module.exports = { ensureLangchain };
