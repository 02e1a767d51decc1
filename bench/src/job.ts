import type { MigrationJob, MigrationService, StartMigrationInput } from '@switchyard/migration';
import { log, now } from './common';

export interface JobRun {
  job: MigrationJob;
  /** Job wall time split by the phase the job reported: copy (incl. plan, index build) and verify. */
  phases: { jobMs: number; copyMs: number; verifyMs: number };
  /** performance.now() at start, when verification began, and at the end. */
  marks: { start: number; verify: number; end: number };
}

/** Starts a migration job, follows its progress events, waits for it and fails unless it SUCCEEDED with a passing verification. */
export async function runJob(svc: MigrationService, input: StartMigrationInput): Promise<JobRun> {
  const t0 = now();
  let tVerify = 0;
  let lastLog = t0;
  const job = await svc.start(input);
  const off = svc.subscribe(job.id, (j) => {
    const t = now();
    if (!tVerify && j.progress?.phase === 'verify') tVerify = t;
    if (t - lastLog > 5000 && j.progress) {
      lastLog = t;
      log(`${j.kind} ${j.progress.phase}: ${j.progress.done}/${j.progress.total} (${j.progress.ratePerSecond}/s)`);
    }
  });
  const done = await svc.waitFor(job.id);
  off();
  const t1 = now();
  if (done.status !== 'SUCCEEDED') throw new Error(`job ${done.id} ended ${done.status}: ${done.errorCode}: ${done.error}`);
  if (!done.verification?.ok) throw new Error(`job ${done.id} succeeded but its verification failed: ${JSON.stringify(done.verification)}`);
  const verifyAt = tVerify || t1;
  return { job: done, phases: { jobMs: round(t1 - t0), copyMs: round(verifyAt - t0), verifyMs: round(t1 - verifyAt) }, marks: { start: t0, verify: verifyAt, end: t1 } };
}

const round = (x: number) => Math.round(x * 10) / 10;
