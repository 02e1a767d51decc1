/**
 * One side of one benchmark, in its own process (so its peak RSS is its own):
 *
 *   node -r bench/lib/register.js bench/.build/bench/src/worker.js <task> '<json args>'
 *
 * Prints one `@@BENCH_RESULT {json}` line on stdout; logs go to stderr.
 */
import 'reflect-metadata';
import { genSqlite, switchyardRelational } from './relational';
import { naiveLoop, rawChromaRead, rawPersistRead, rawCopy, seedChroma, switchyardVectors } from './vectors';
import { rawEmbed, seedDocuments, switchyardReindex } from './reindex';
import { rawSearch, seedSearch, switchyardSearch } from './search';
import { seedLive, switchyardLive } from './live';
import { langchainCopy } from './langchain';
import { queueJob, queueWorker } from './queue';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const TASKS: Record<string, (args: any) => Promise<void>> = {
  'gen-sqlite': genSqlite,
  'relational-switchyard': switchyardRelational,
  'seed-chroma': seedChroma,
  'vectors-switchyard': switchyardVectors,
  'vectors-naive': naiveLoop,
  'vectors-raw-read': rawChromaRead,
  'vectors-persist-read': rawPersistRead,
  'vectors-raw-copy': rawCopy,
  'vectors-langchain': langchainCopy,
  'reindex-seed': seedDocuments,
  'reindex-switchyard': switchyardReindex,
  'reindex-raw': rawEmbed,
  'search-seed': seedSearch,
  'search-switchyard': switchyardSearch,
  'search-raw': rawSearch,
  'live-seed': seedLive,
  'live-switchyard': switchyardLive,
  'queue-job': queueJob,
  'queue-worker': queueWorker,
};

async function main(): Promise<void> {
  const [task, json] = process.argv.slice(2);
  const fn = TASKS[task];
  if (!fn) throw new Error(`unknown task ${JSON.stringify(task)}; known: ${Object.keys(TASKS).join(', ')}`);
  await fn(JSON.parse(json ?? '{}'));
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
