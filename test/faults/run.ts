/**
 * The fault suite from a shell, at any size:
 *
 *   npm run test:faults -- [--records 100000] [--kills 20] [--rounds 3] [--runners 3] [--seed S]
 *                          [--scenario NAME ...] [--batch-size 1000] [--stale-ms 1500] [--list]
 *
 * Uses the servers named by TEST_DATABASE_URL / TEST_CHROMA_URL, or starts its own PostgreSQL 17 +
 * pgvector and Chroma (scripts/test-services.js) and stops them at the end. Exit code 1 if any
 * scenario found a problem; the report names the seed and the command that replays each scenario.
 */
import { parseArgs } from 'node:util';
import { DEFAULTS, FaultOptions } from './harness';
import { newSeed } from './prng';
import { runFaults, SCENARIOS } from './scenarios';

const USAGE = `usage: npm run test:faults -- [options]
  --records N      records per scenario (documents or vectors; concurrency/alias scenarios use at most 3000/2000)  [${DEFAULTS.records}]
  --kills N        SIGKILLs per kill-and-resume scenario                                        [${DEFAULTS.kills}]
  --rounds N       rounds of the concurrency scenarios                                          [${DEFAULTS.rounds}]
  --runners N      processes started at the same moment (concurrent-start)                      [${DEFAULTS.runners}]
  --batch-size N   migration batch size                                                          [${DEFAULTS.batchSize}; 1000 from 50000 records]
  --stale-ms N     the runners' staleAfterMs (a dead job's heartbeat age before it may be resumed) [${DEFAULTS.staleAfterMs}]
  --seed S         replay a run (every random choice derives from it)                           [random]
  --scenario NAME  run only this scenario (repeatable): ${SCENARIOS.map((s) => s.name).join(', ')}
  --list           list the scenarios and exit`;

function int(name: string, v: string | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

async function withServices<T>(fn: () => Promise<T>): Promise<T> {
  if (process.env.TEST_DATABASE_URL && process.env.TEST_CHROMA_URL) return fn();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startServices } = require('../../scripts/test-services') as { startServices(): Promise<{ env: Record<string, string>; stop(): Promise<void> }> };
  const services = await startServices();
  Object.assign(process.env, services.env);
  try {
    return await fn();
  } finally {
    await services.stop();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string' },
      kills: { type: 'string' },
      rounds: { type: 'string' },
      runners: { type: 'string' },
      'batch-size': { type: 'string' },
      'stale-ms': { type: 'string' },
      seed: { type: 'string' },
      scenario: { type: 'string', multiple: true },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(28)} ${s.about}\n`);
    return 0;
  }
  const records = int('records', values.records, DEFAULTS.records, 10);
  const opts: FaultOptions = {
    seed: int('seed', values.seed, newSeed(), 0),
    records,
    kills: int('kills', values.kills, DEFAULTS.kills, 0),
    rounds: int('rounds', values.rounds, DEFAULTS.rounds),
    runners: int('runners', values.runners, DEFAULTS.runners, 2),
    batchSize: int('batch-size', values['batch-size'], records >= 50_000 ? 1000 : DEFAULTS.batchSize),
    staleAfterMs: int('stale-ms', values['stale-ms'], DEFAULTS.staleAfterMs, 100),
    log: (m) => void process.stderr.write(`${m}\n`),
  };
  for (const name of values.scenario ?? []) if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`--scenario: unknown ${JSON.stringify(name)}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  opts.log(`fault suite: seed ${opts.seed}, records ${opts.records}, kills ${opts.kills}, rounds ${opts.rounds}, batch ${opts.batchSize}`);
  const t0 = Date.now();
  const { results, text } = await withServices(() => runFaults(opts, values.scenario));
  process.stdout.write(`\n${text}\n(total ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}\n`);
    process.exit(2);
  },
);
