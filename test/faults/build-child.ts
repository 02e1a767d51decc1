import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { transformFileSync } from '@swc/core';

const ROOT = path.resolve(__dirname, '../..');
const LIBS = ['core', 'relational-db', 'vector-db', 'embeddings', 'llm', 'knowledge', 'migration'];
const CHILD_FILES = ['test/faults/protocol.ts', 'test/faults/runner-child.ts'];

/** The same transform as Jest's (jest.config.ts): decorators with metadata, CommonJS. */
const SWC = {
  jsc: { parser: { syntax: 'typescript' as const, decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' as const },
  module: { type: 'commonjs' as const },
  sourceMaps: false,
  swcrc: false,
  configFile: false,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

let built: string | null = null;

/** Removes the transpiled child (also done at process exit; Jest's test environment does not see that event). */
export function removeChildBuild(): void {
  if (built) rmSync(built, { recursive: true, force: true });
  built = null;
}

/**
 * The runner child, transpiled once per harness process (swc, ~1 s) into a temp dir, so each of the
 * dozens of children a run starts loads plain JavaScript instead of compiling TypeScript again
 * (ts-node: ~2-3 s more per child on a busy 2-core machine). Returns node's arguments to start one.
 */
export function childCommand(): { args: string[]; env: Record<string, string> } {
  if (!built) {
    const out = mkdtempSync(path.join(tmpdir(), 'sy-faults-build-'));
    process.once('exit', removeChildBuild);
    const files = [...LIBS.flatMap((l) => sources(path.join(ROOT, 'libs', l, 'src'))), ...CHILD_FILES.map((f) => path.join(ROOT, f))];
    for (const file of files) {
      const rel = path.relative(ROOT, file).replace(/\.ts$/, '.js');
      mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
      writeFileSync(path.join(out, rel), transformFileSync(file, SWC).code);
    }
    const map = Object.fromEntries(LIBS.map((l) => [`@switchyard/${l}`, path.join(out, 'libs', l, 'src')]));
    writeFileSync(
      path.join(out, 'paths.js'),
      `const Module = require('node:module');\nconst map = ${JSON.stringify(map)};\nconst resolve = Module._resolveFilename;\n` +
        `Module._resolveFilename = function (request, ...rest) { return resolve.call(this, map[request] ?? request, ...rest); };\n`,
    );
    built = out;
  }
  return {
    args: ['-r', path.join(built, 'paths.js'), path.join(built, 'test', 'faults', 'runner-child.js')],
    env: { NODE_PATH: path.join(ROOT, 'node_modules') },
  };
}
