#!/usr/bin/env node
/**
 * `npm run test:host`: proves the packages work in an app of their own.
 *
 *   1. builds and packs the seven @switchyard/* packages (scripts/packages.js = `npm run packages`);
 *   2. installs examples/host-app from those tarballs (file:../../dist/packages/*.tgz) and the npm registry,
 *      with `npm install --no-package-lock --prefer-offline`: no lock file is written or read, because a
 *      lock pins the tarballs' integrity, which changes whenever a lib's source changes;
 *   3. checks that `@switchyard/*` resolve inside examples/host-app/node_modules (installed copies, not the sources);
 *   4. compiles the host app (its own tsconfig, skipLibCheck off: the packages' .d.ts must be complete);
 *   5. runs its test (node:test): boot on SQLite + sqlite-vec in a temp dir with the generated embeddings model,
 *      index/search/delete over HTTP, the host's own entities.
 *
 * Options: --skip-packages (reuse dist/packages/*.tgz), --skip-install (reuse examples/host-app/node_modules).
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { ensureTestModels } = require('./generate-test-model.js');

const ROOT = path.resolve(__dirname, '..');
const HOST = path.join(ROOT, 'examples', 'host-app');
const PACKAGES = ['core', 'relational-db', 'vector-db', 'embeddings', 'llm', 'knowledge', 'migration'];
const args = new Set(process.argv.slice(2));
const log = (...m) => console.log('[test:host]', ...m);
const since = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const timings = [];

/**
 * The environment for child npm/node processes. Under `npm run`, npm exports its own settings as npm_config_*
 * (local_prefix=/work/main among them) and the root package as npm_package_*; a nested `npm install` would
 * take them as its own and install into the wrong project. Only connection/cache settings are passed on.
 */
function childEnv(extra = {}) {
  const keep = /^npm_config_(registry|@[^:]+:registry|cache|userconfig|globalconfig|nodedir|proxy|https_proxy|noproxy|no_proxy|strict_ssl|cafile|ca|offline|prefer_offline)$/i;
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || keep.test(k)) env[k] = v;
  delete env.INIT_CWD;
  return { ...env, ...extra };
}

function run(label, cmd, argv, opts = {}) {
  const t0 = Date.now();
  log(`${label}: ${[path.basename(cmd), ...argv].join(' ')}${opts.cwd && opts.cwd !== ROOT ? `  (in ${path.relative(ROOT, opts.cwd)})` : ''}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: 'inherit', ...opts, env: childEnv(opts.env) });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      timings.push([label, since(t0)]);
      if (code === 0) resolve();
      else reject(new Error(`${label} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** better-sqlite3's compiled addon in the host app: copied from the root's identical version, or rebuilt. */
async function nativeBuilds(npm) {
  const name = 'better-sqlite3';
  const version = (dir) => JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
  const built = path.join(ROOT, 'node_modules', name, 'build', 'Release', 'better_sqlite3.node');
  if (fs.existsSync(built) && version(ROOT) === version(HOST)) {
    const dest = path.join(HOST, 'node_modules', name, 'build', 'Release');
    fs.mkdirSync(dest, { recursive: true });
    fs.copyFileSync(built, path.join(dest, 'better_sqlite3.node'));
    log(`${name} ${version(HOST)}: native addon copied from the root install (same version)`);
    return;
  }
  await run('rebuild', npm, ['rebuild', name, '--loglevel=error'], { cwd: HOST });
}


function checkInstalled() {
  const nodeModules = fs.realpathSync(path.join(HOST, 'node_modules')) + path.sep;
  for (const lib of PACKAGES) {
    const name = `@switchyard/${lib}`;
    const resolved = fs.realpathSync(require.resolve(name, { paths: [HOST] }));
    if (!resolved.startsWith(nodeModules)) throw new Error(`${name} resolves to ${resolved}, not inside ${nodeModules}`);
    if (fs.lstatSync(path.join(HOST, 'node_modules', name)).isSymbolicLink()) throw new Error(`${name} is a symlink: installed from a folder, not from its tarball`);
  }
  log(`@switchyard/knowledge -> ${path.relative(ROOT, require.resolve('@switchyard/knowledge', { paths: [HOST] }))} (all ${PACKAGES.length} installed from tarballs)`);
}

async function main() {
  const t0 = Date.now();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

  if (!args.has('--skip-packages')) await run('packages', process.execPath, [path.join(__dirname, 'packages.js')]);
  for (const lib of PACKAGES) {
    const tgz = path.join(ROOT, 'dist', 'packages', `switchyard-${lib}-0.2.0.tgz`);
    if (!fs.existsSync(tgz)) throw new Error(`${path.relative(ROOT, tgz)} is missing; run npm run packages`);
  }

  if (!args.has('--skip-install')) {
    // Installed @switchyard/* copies would be kept if their version did not change; take the new tarballs.
    fs.rmSync(path.join(HOST, 'node_modules', '@switchyard'), { recursive: true, force: true });
    fs.rmSync(path.join(HOST, 'node_modules', '.package-lock.json'), { force: true });
    // Without install scripts: the only one the app needs is better-sqlite3's native build, taken from the
    // root's install when it is the same version (compiling it again costs 1-2 minutes here), else rebuilt.
    await run('install', npm, ['install', '--no-package-lock', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--ignore-scripts'], { cwd: HOST });
    await nativeBuilds(npm);
  }
  checkInstalled();

  await run('build', process.execPath, [require.resolve('typescript/bin/tsc', { paths: [HOST] }), '-p', 'tsconfig.json'], { cwd: HOST });

  const t1 = Date.now();
  const models = ensureTestModels();
  timings.push(['test model', since(t1)]);
  await run('test', process.execPath, ['--test', '--test-concurrency=1', path.join('dist', 'test', 'host-app.test.js')], {
    cwd: HOST,
    env: { TEST_EMBEDDINGS_MODEL_PATH: models.TEST_EMBEDDINGS_MODEL_PATH },
  });

  log(`passed in ${since(t0)} (${timings.map(([l, t]) => `${l} ${t}`).join(', ')})`);
}

main().catch((e) => {
  console.error(`[test:host] ${e.message}`);
  if (timings.length) console.error(`[test:host] timings: ${timings.map(([l, t]) => `${l} ${t}`).join(', ')}`);
  process.exit(1);
});
