#!/usr/bin/env node
/**
 * `npm run packages`: builds every lib as its own scoped npm package and packs it.
 *
 *   dist/packages/<lib>/                  package.json (from libs/<lib>/package.json), README.md, dist/**.js + .d.ts
 *   dist/packages/switchyard-<lib>-<version>.tgz   `npm pack` of that directory
 *
 * Each lib is compiled with plain `tsc` (tsconfig.packages.json + a generated per-lib tsconfig) in dependency
 * order, against the already compiled declarations of the @switchyard/* packages it imports. Nothing rewrites
 * import paths: the output requires `@switchyard/core` etc., which resolve to the installed packages.
 * Specs, `testing/` folders and `*.contract.ts` are not compiled (except what a lib's index itself re-exports).
 *
 * After compiling, every bare `require()`/`import()` in the emitted JS and every module named in the emitted
 * .d.ts is checked against the package's dependencies/peerDependencies, so a dependency that would only be
 * missed when a package is installed on its own fails the build here.
 *
 * Options: --no-pack (compile and check only), --quiet.
 * Note: `npm run build` (nest build, deleteOutDir) empties dist/, tarballs included; run this again afterwards.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { builtinModules } = require('node:module');
const { execFileSync, spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'packages');
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] });

/** Build order: every lib after the @switchyard/* packages it imports; libs in one group compile in parallel. */
const GROUPS = [['core'], ['relational-db', 'vector-db', 'embeddings', 'llm'], ['knowledge'], ['migration']];
const LIBS = GROUPS.flat();

/**
 * Declared dependencies the emitted code never names in a require(), and why (anything else unused is reported).
 * They are loaded by name by another package at run time.
 */
const LOADED_INDIRECTLY = {
  'relational-db': {
    'better-sqlite3': "TypeORM's `better-sqlite3` driver requires it",
    pg: "TypeORM's `postgres` driver requires it (also required directly: pg/lib/utils)",
  },
  knowledge: { '@langchain/core': 'peer dependency of @langchain/textsplitters' },
};

const args = new Set(process.argv.slice(2));
const pack = !args.has('--no-pack');
const quiet = args.has('--quiet');
const log = (...m) => console.log('[packages]', ...m);
const since = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

function run(cmd, argv, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} ${argv.join(' ')} exited with ${code}\n${out}`))));
  });
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function walk(dir, filter, acc = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, filter, acc);
    else if (filter(p)) acc.push(p);
  }
  return acc;
}

/** `@scope/name/sub/path` -> `@scope/name`, `name/sub` -> `name`. */
function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const isBuiltin = (s) => s.startsWith('node:') || BUILTINS.has(s) || BUILTINS.has(s.split('/')[0]);

/** Bare module specifiers named by the emitted JS (require/import calls) or .d.ts (import/export from, import()). */
function specifiers(file) {
  const text = fs.readFileSync(file, 'utf8');
  const found = new Set();
  const patterns = file.endsWith('.d.ts')
    ? [/\bfrom\s+["']([^"']+)["']/g, /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, /^\s*import\s+["']([^"']+)["']/gm, /\/\/\/\s*<reference\s+types=["']([^"']+)["']/g]
    : [
        /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
        /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
        // nodeRequire()('x') / dynamicImport('x'): the embeddings driver's loaders of @huggingface/transformers
        /\b[A-Za-z_$]*[Rr]equire\(\)\s*\(\s*["']([^"']+)["']\s*\)/g,
        /\bdynamicImport\s*\(\s*["']([^"']+)["']\s*\)/g,
      ];
  for (const re of patterns) for (const m of text.matchAll(re)) if (!m[1].startsWith('.')) found.add(m[1]);
  return found;
}

/** `pg` -> `@types/pg`, `@scope/name` -> `@types/scope__name`. */
function typesPackage(name) {
  return `@types/${name.startsWith('@') ? name.slice(1).replace('/', '__') : name}`;
}

/** Whether the installed package (the one the libs compile against) carries its own .d.ts. */
function shipsTypes(name) {
  const manifest = path.join(ROOT, 'node_modules', name, 'package.json');
  if (!fs.existsSync(manifest)) return false;
  const p = readJson(manifest);
  if (p.types || p.typings) return true;
  if (JSON.stringify(p.exports ?? {}).includes('.d.ts') || JSON.stringify(p.exports ?? {}).includes('"types"')) return true;
  return fs.existsSync(path.join(path.dirname(manifest), 'index.d.ts'));
}

function checkDependencies(lib) {
  const dir = path.join(OUT, lib);
  const pkg = readJson(path.join(dir, 'package.json'));
  const declared = new Set([
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
    ...Object.keys(pkg.optionalDependencies ?? {}),
  ]);
  const problems = [];
  const usedRuntime = new Set();
  const typeOnly = new Map();
  for (const file of walk(path.join(dir, 'dist'), (p) => p.endsWith('.js') || p.endsWith('.d.ts'))) {
    for (const s of specifiers(file)) {
      if (isBuiltin(s)) continue;
      const name = packageOf(s);
      if (name === pkg.name) continue;
      if (file.endsWith('.js')) usedRuntime.add(name);
      else if (!typeOnly.has(name)) typeOnly.set(name, path.relative(dir, file));
      if (!declared.has(name)) problems.push(`${path.relative(dir, file)} needs "${s}" but ${pkg.name} does not declare ${name}`);
      // A declaration naming an untyped package (pg) needs its @types package, or consumers without skipLibCheck fail.
      if (file.endsWith('.d.ts') && !name.startsWith('@switchyard/') && !shipsTypes(name) && !declared.has(typesPackage(name))) {
        problems.push(`${path.relative(dir, file)} names "${s}", which has no bundled types: declare ${typesPackage(name)} as a dependency`);
      }
    }
  }
  const notes = [];
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    if (usedRuntime.has(name) || name.startsWith('@types/')) continue;
    const why = LOADED_INDIRECTLY[lib]?.[name];
    if (why) notes.push(`${name}: ${why}`);
    else problems.push(`dependency ${name} is never required by the emitted code (remove it, or explain it in LOADED_INDIRECTLY)`);
  }
  for (const name of Object.keys(LOADED_INDIRECTLY[lib] ?? {})) {
    if (!declared.has(name)) problems.push(`${name} is loaded at run time but ${pkg.name} does not declare it`);
  }
  return { problems, notes, typeOnly: [...typeOnly.keys()].filter((n) => !usedRuntime.has(n)) };
}

function readme(pkg) {
  const peers = Object.entries(pkg.peerDependencies ?? {}).map(([n, v]) => `\`${n}@${v}\``).join(', ');
  const deps = Object.entries(pkg.dependencies ?? {}).map(([n, v]) => `\`${n}@${v}\``).join(', ');
  return `# ${pkg.name}

${pkg.description}

Part of **Switchyard** ${pkg.version}, a pluggable data layer for NestJS RAG backends. The packages are meant to be
installed together (\`@switchyard/core\`, \`relational-db\`, \`vector-db\`, \`embeddings\`, \`llm\`, \`knowledge\`,
\`migration\`); see "Use it in your own Nest app" in the Switchyard repository's README and its CHANGELOG.md.

- Peer dependencies (install them in your app): ${peers || 'none'}
- Dependencies (installed with this package): ${deps || 'none'}

License: ${pkg.license}
`;
}

async function compile(lib, tsconfigDir) {
  const src = path.join(ROOT, 'libs', lib, 'src');
  const dest = path.join(OUT, lib);
  const pkg = readJson(path.join(ROOT, 'libs', lib, 'package.json'));
  if (pkg.name !== `@switchyard/${lib}`) throw new Error(`libs/${lib}/package.json: name must be @switchyard/${lib}, got ${pkg.name}`);
  for (const dep of Object.keys(pkg.peerDependencies ?? {}).filter((d) => d.startsWith('@switchyard/'))) {
    const built = path.join(OUT, dep.slice('@switchyard/'.length), 'package.json');
    if (!fs.existsSync(built)) throw new Error(`${pkg.name} needs ${dep}, which is not built yet (fix GROUPS in scripts/packages.js)`);
  }
  const tsconfig = path.join(tsconfigDir, `${lib}.json`);
  fs.writeFileSync(
    tsconfig,
    `${JSON.stringify(
      {
        extends: path.join(ROOT, 'tsconfig.packages.json'),
        compilerOptions: { rootDir: src, outDir: path.join(dest, 'dist') },
        include: [path.join(src, '**/*.ts')],
        exclude: ['**/*.spec.ts', '**/*.test.ts', '**/testing/**', '**/*.contract.ts'].map((g) => path.join(src, g)),
      },
      null,
      2,
    )}\n`,
  );
  const t0 = Date.now();
  fs.mkdirSync(dest, { recursive: true });
  await run(process.execPath, [TSC, '-p', tsconfig]);
  // package.json only after a successful compile: later groups resolve the package through it (types field).
  fs.writeFileSync(path.join(dest, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  fs.writeFileSync(path.join(dest, 'README.md'), readme(pkg));
  if (!quiet) log(`${pkg.name}: compiled in ${since(t0)}`);
}

async function main() {
  const t0 = Date.now();
  fs.rmSync(OUT, { recursive: true, force: true });
  const tsconfigDir = path.join(OUT, '.tsconfig');
  fs.mkdirSync(tsconfigDir, { recursive: true });

  for (const group of GROUPS) await Promise.all(group.map((lib) => compile(lib, tsconfigDir)));
  fs.rmSync(tsconfigDir, { recursive: true, force: true });

  const problems = [];
  for (const lib of LIBS) {
    const r = checkDependencies(lib);
    problems.push(...r.problems.map((p) => `@switchyard/${lib}: ${p}`));
    if (!quiet && r.typeOnly.length) log(`@switchyard/${lib}: declarations also name ${r.typeOnly.join(', ')} (types only)`);
  }
  if (problems.length) throw new Error(`dependency check failed:\n  - ${problems.join('\n  - ')}`);
  log(`compiled ${LIBS.length} packages, dependencies checked (${since(t0)})`);

  if (!pack) return;
  const t1 = Date.now();
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', OUT, ...LIBS.map((l) => path.join(OUT, l))], {
    cwd: OUT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const packed = JSON.parse(out);
  for (const p of packed) log(`${p.filename}  ${(p.size / 1024).toFixed(1)} kB, ${p.entryCount} files`);
  log(`packed ${packed.length} tarballs into ${path.relative(ROOT, OUT)}/ in ${since(t1)} (total ${since(t0)})`);
}

main().catch((e) => {
  console.error(`[packages] ${e.message}`);
  process.exit(1);
});
