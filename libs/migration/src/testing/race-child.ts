/**
 * Fires `n` concurrent start() calls of one job kind against a target when told "go" on stdin (after it
 * printed `{"ready":true}`), from its own process, and prints `{"results": [...]}`: a job id for every start that ran, an error code for
 * every start that was refused. On a second line ("stop") it cancels what it started and prints `{"done": true}`.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register race-child.ts '<json RaceConfig>'
 */
import type { ProviderProfile } from '@switchyard/core';
import { MigrationService } from '../migration.service';
import { ChildTarget, openChildTarget } from './child-target';
import type { StartMigrationInput } from '../migration.types';

export interface RaceConfig {
  target: ChildTarget;
  profiles: Record<string, ProviderProfile>;
  dataDir: string;
  n: number;
  start: StartMigrationInput;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as RaceConfig;
  const { relational, vector, close } = await openChildTarget(cfg.target);
  const quiet = { log: () => undefined, warn: () => undefined, error: (m: string) => void process.stderr.write(`${m}\n`) };
  const svc = new MigrationService({ target: { relational, vector }, profiles: cfg.profiles, dataDir: cfg.dataDir, defaultBatchSize: 100, logger: quiet });
  process.stdout.write('{"ready":true}\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.pause();
  const results = await Promise.all(
    Array.from({ length: cfg.n }, () =>
      svc.start(cfg.start).then(
        (j) => ({ jobId: j.id }),
        (e: { code?: string; message?: string }) => ({ code: e.code ?? 'UNKNOWN', message: e.message }),
      ),
    ),
  );
  process.stdout.write(`${JSON.stringify({ results })}\n`);
  // The winner keeps running until the parent has the results of every racer ("stop" on stdin): a start
  // that came after the winner finished would be a legitimate second run, not a lost race.
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.destroy(); // an open stdin would keep this process alive
  for (const r of results) if ('jobId' in r) await svc.cancel(r.jobId);
  await svc.close();
  await close();
  process.stdout.write('{"done":true}\n');
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
