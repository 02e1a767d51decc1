/**
 * Writes or reads instants through a RelationalDb in its own process, so a test can run writer and
 * reader under different time zones (TZ=Europe/Berlin vs TZ=UTC). Prints one JSON line:
 * `{"tz": ..., "read": {<target index>: {<row>: <epoch ms>}}}`.
 *
 *   TZ=Europe/Berlin node -r ts-node/register/transpile-only -r tsconfig-paths/register tz-child.ts '<json TzChildInput>'
 */
import type { RelationalDbConfig } from '@switchyard/core';
import { createRelationalDb } from '../relational-db.factory';
import { readInstants, writeInstants, Instants } from './instants';

export interface TzChildInput {
  targets: RelationalDbConfig[];
  /** Rows to write: `<tag>-<i>` per instant (epoch ms), in every table that has a date column. */
  write?: { tag: string; instants: number[] };
  /** Rows to read back: the tag and how many instants were written under it. */
  read?: { tag: string; count: number };
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]) as TzChildInput;
  const result: Record<number, Instants> = {};
  for (const [n, config] of input.targets.entries()) {
    const db = createRelationalDb(config);
    await db.init();
    try {
      if (input.read) result[n] = await readInstants(db, input.read.tag, input.read.count);
      if (input.write) await writeInstants(db, input.write.tag, input.write.instants);
    } finally {
      await db.close();
    }
  }
  process.stdout.write(`${JSON.stringify({ tz: Intl.DateTimeFormat().resolvedOptions().timeZone, read: result })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
