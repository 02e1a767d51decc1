import { removeChildBuild } from './build-child';
import { DEFAULTS, FaultOptions, report, runScenario } from './harness';
import { newSeed } from './prng';
import { SCENARIOS } from './scenarios';

/**
 * The fault suite at CI size (test/faults/README.md): real migrations in child processes against the
 * real servers, SIGKILLed in every phase and resumed, started and resumed concurrently, and pointed at
 * their own target under another name; each scenario then compares the target with the source by
 * checksum. ~20 kill points in all. A failure prints the seed and the command that replays it; set
 * FAULT_SEED to replay a whole run here.
 */
const seed = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : newSeed();

const CI_SIZE: Record<string, Partial<FaultOptions>> = {
  'relational-truncate': { records: 2000, kills: 7 },
  'vectors-sqlitevec-pgvector': { records: 3000, kills: 7 },
  'vectors-chroma-pgvector': { records: 2000, kills: 5 },
  'concurrent-start': { records: 1000, rounds: 4, runners: 3 },
  'concurrent-resume': { records: 1500, rounds: 2 },
  'alias-sqlite': { records: 1000 },
  'alias-postgres': { records: 1000 },
};

describe(`fault suite (seed ${seed}; replay with FAULT_SEED=${seed})`, () => {
  afterAll(removeChildBuild);

  it.each(SCENARIOS.map((s) => [s.name, s] as const))('%s', async (_, s) => {
    const log: string[] = [];
    const opts: FaultOptions = { ...DEFAULTS, ...CI_SIZE[s.name], seed, log: (m) => void log.push(m) };
    const result = await runScenario(s, opts);
    if (!result.ok) throw new Error(`${report(result, opts)}\n\n  log:\n${log.map((l) => `    ${l}`).join('\n')}`);
    process.stdout.write(`${report(result, opts)}\n`);
  }, 300_000);
});
