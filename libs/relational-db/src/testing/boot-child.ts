/**
 * Boots a RelationalDb (init(): connect + schema migrations) in its own process at a moment the parent
 * chooses, so a test can start several "replicas" against one fresh database at once. Prints
 * `{"ready":true}` once loaded, waits for a line on stdin, then calls init() and prints one JSON line:
 * `{"ok":true}` or `{"ok":false,"code":...,"message":...}`.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register boot-child.ts '<json BootChildInput>'
 */
import type { RelationalDbConfig } from '@switchyard/core';
import { createInterface } from 'node:readline';
import { createRelationalDb } from '../relational-db.factory';
import type { RelationalDbOptions } from '../relational-db.port';

export interface BootChildInput {
  config: RelationalDbConfig;
  options?: RelationalDbOptions;
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]) as BootChildInput;
  const db = createRelationalDb(input.config, input.options);
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
  process.stdout.write('{"ready":true}\n');
  await go;
  lines.close();
  try {
    await db.init();
    process.stdout.write('{"ok":true}\n');
  } catch (e) {
    const err = e as { code?: string; message?: string };
    process.stdout.write(`${JSON.stringify({ ok: false, code: err.code, message: err.message ?? String(e) })}\n`);
  } finally {
    await db.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
