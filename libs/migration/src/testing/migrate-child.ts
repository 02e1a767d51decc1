/**
 * Runs one migration job in its own process and prints `{"jobId": ...}` then `{"status": ...}` as JSON
 * lines. The resume test starts it, kills it with SIGKILL in the middle, and resumes the job itself.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register migrate-child.ts '<json ChildConfig>'
 */
import type { ProviderProfile } from '@switchyard/core';
import { MigrationService } from '../migration.service';
import { ChildTarget, openChildTarget } from './child-target';
import type { StartMigrationInput } from '../migration.types';

export interface ChildConfig {
  target: ChildTarget;
  profiles: Record<string, ProviderProfile>;
  dataDir: string;
  staleAfterMs: number;
  start: StartMigrationInput;
  /** Start the job at this instant (ms since the epoch), after everything is open: two children race. */
  startAt?: number;
}

const say = (m: string) => void process.stderr.write(`${m}\n`);

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as ChildConfig;
  const { relational, vector, close } = await openChildTarget(cfg.target);
  const svc = new MigrationService({ target: { relational, vector }, profiles: cfg.profiles, dataDir: cfg.dataDir, defaultBatchSize: 100, staleAfterMs: cfg.staleAfterMs, logger: { log: () => undefined, warn: say, error: say } });
  if (cfg.startAt) await new Promise((r) => setTimeout(r, Math.max(0, cfg.startAt! - Date.now())));
  let job;
  try {
    job = await svc.start(cfg.start);
  } catch (e) {
    // refused when built: say so (the race test counts refusals) and stop
    process.stdout.write(`${JSON.stringify({ refused: (e as { code?: string }).code ?? null, error: e instanceof Error ? e.message : String(e) })}\n`);
    await svc.close();
    await close();
    return;
  }
  process.stdout.write(`${JSON.stringify({ jobId: job.id })}\n`);
  const done = await svc.waitFor(job.id);
  process.stdout.write(`${JSON.stringify({ status: done.status, errorCode: done.errorCode, error: done.error })}\n`);
  await svc.close();
  await close();
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
