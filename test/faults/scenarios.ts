import { FaultOptions, report, runScenario, Scenario, ScenarioResult } from './harness';
import { aliasPostgres, aliasSqlite } from './scenarios-alias';
import { concurrentResume, concurrentStart } from './scenarios-concurrency';
import { relationalTruncate, vectorsChromaToPgvector, vectorsSqliteVecToPgvector } from './scenarios-kill';

/** Every scenario, in the order a full run takes them. */
export const SCENARIOS: readonly Scenario[] = [relationalTruncate, vectorsSqliteVecToPgvector, vectorsChromaToPgvector, concurrentStart, concurrentResume, aliasSqlite, aliasPostgres];

export function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`no fault scenario named ${JSON.stringify(name)}; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
  return s;
}

/** Runs the named scenarios (default: all) one after another; returns their results and a printable report. */
export async function runFaults(opts: FaultOptions, names?: string[]): Promise<{ results: ScenarioResult[]; text: string }> {
  const chosen = names?.length ? names.map(scenario) : SCENARIOS;
  const results: ScenarioResult[] = [];
  for (const s of chosen) results.push(await runScenario(s, opts));
  const failed = results.filter((r) => !r.ok);
  const kills = results.reduce((n, r) => n + r.kills.filter((k) => k.landed).length, 0);
  const text = [
    ...results.map((r) => report(r, opts)),
    `${failed.length ? `FAILED: ${failed.map((r) => r.name).join(', ')}` : 'ALL PASSED'} — ${results.length} scenario(s), ${kills} SIGKILL(s), records ${opts.records}, seed ${opts.seed}`,
  ].join('\n\n');
  return { results, text };
}
