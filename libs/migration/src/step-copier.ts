import { SwitchyardError } from '@switchyard/core';
import type { MigrationJobEntity } from '@switchyard/relational-db';
import type { DataReader, DataWriter, WriteMode } from './datasets';
import type { JobContext, Step } from './job-context';
import { JobStore, TakenOver } from './job-store';
import type { Backup, ConflictPolicy, JobStatus, MigrationLogger, MigrationProgress, MigrationVerification } from './migration.types';
import { copyPages } from './pipeline';
import { Checkpoint, initialProgress, rateAndEta, summary } from './progress';
import type { RejectFile } from './rejects';
import { planOf, verifyOf, VerifyOptions } from './verification';

const WRITE_MODE: Record<ConflictPolicy, WriteMode> = { FAIL: 'error', SKIP: 'skip', OVERWRITE: 'overwrite', TRUNCATE: 'overwrite' };
const MAX_REJECTED = 10;

/** One run of a job: what the copier needs, with every write of the run fenced by its run id. */
export interface Run {
  job: MigrationJobEntity;
  ctx: JobContext;
  runId: string;
  store: JobStore;
  logger: MigrationLogger;
  rejects: RejectFile;
  /** Throws when the run must stop: cancelled, shut down, or taken over by another run (fencing). */
  check(): Promise<void>;
  /** Updates the job (only while this run owns it) and tells subscribers. */
  update(fields: Partial<MigrationJobEntity>): Promise<void>;
  emit(): void;
}

/**
 * Runs a job's copy: backups (counted against the store), then TRUNCATE, then every step from its
 * checkpoint, then verification. Ends SUCCEEDED only when verification passed; with rejects,
 * SUCCEEDED_WITH_REJECTS; a verification that fails ends the job FAILED (VERIFICATION_FAILED).
 */
export async function copyJob(run: Run): Promise<void> {
  const { job, ctx, store } = run;
  const policy = job.onConflict as ConflictPolicy;
  if (!ctx.resumable) {
    await run.check();
    await store.clearCheckpoints(job.id);
  }
  const existing: Checkpoint[] = ctx.resumable ? await store.checkpoints(job.id) : [];
  const resumed = existing.length > 0;
  if (!job.plan) await run.update({ plan: await planOf(ctx, false, job.batchSize) });
  const before = resumed ? null : await prepareTarget(run, policy);
  await run.check();
  await ctx.before?.();

  const totals = await Promise.all(ctx.steps.map((s) => s.source.count()));
  const cps = new Map(existing.map((c) => [c.step, c as Checkpoint]));
  const fresh: Checkpoint[] = [];
  for (const [i, s] of ctx.steps.entries()) {
    if (cps.has(s.name)) continue;
    const cp: Checkpoint = { jobId: job.id, step: s.name, cursor: null, done: 0, total: totals[i], finished: false };
    cps.set(s.name, cp);
    fresh.push(cp);
  }
  const progress = initialProgress(
    ctx.steps.map((s) => s.name),
    totals,
    cps,
    (job.progress as MigrationProgress | null)?.steps ?? [],
  );
  if (before) progress.steps.forEach((sp, i) => (sp.targetBefore = before[i]));
  // The first checkpoints carry the progress (with what each target held before): a crash right after
  // them must not lose `targetBefore`, or the resumed run would compare a SKIP/OVERWRITE the wrong way.
  for (const cp of fresh) await store.checkpoint(cp, run.runId, progress);
  const started = Date.now();
  let doneThisRun = 0;
  const mode = WRITE_MODE[policy];
  const resumeMode: WriteMode = policy === 'SKIP' ? 'skip' : 'overwrite';

  for (const [i, s] of ctx.steps.entries()) {
    const cp = cps.get(s.name)!;
    const sp = progress.steps[i];
    if (cp.finished) continue;
    const t0 = Date.now();
    const baseMs = sp.ms;
    const save = async () => {
      progress.done = [...cps.values()].reduce((n, c) => n + c.done, 0);
      Object.assign(progress, rateAndEta(progress.total, progress.done, doneThisRun, Date.now() - started));
      sp.ms = baseMs + Date.now() - t0;
      job.progress = progress;
      job.heartbeatAt = new Date();
      await store.checkpoint(cp, run.runId, progress);
      run.emit();
    };
    if (s.run) {
      await run.check();
      await s.run();
    } else {
      await run.check();
      // Before the first page that changes the target (its records, or its commit hook: a re-index's
      // stale-chunk deletes): a deferred backup, once per job (a resumed run whose first run wrote nothing
      // takes it now), then the bulk-load preparation.
      let ready: Promise<void> | undefined;
      const first = () =>
        (ready ??= (async () => {
          if (s.backupOnFirstWrite) await backUp(run, s, policy, progress);
          await s.target.prepare?.();
        })());
      try {
        await copyPages({
          reader: commitsAfter(s.source, first),
          writer: onFirstWrite(s.target, first),
          pageSize: job.batchSize,
          after: cp.cursor ?? undefined,
          mode: { first: resumed ? resumeMode : mode, rest: mode },
          check: () => run.check(),
          throttleMs: (job.options as { throttleMs?: number } | null)?.throttleMs,
          onRejects: (rejected) => run.rejects.append(rejected.map((r) => ({ step: s.name, id: r.id, reason: r.reason, record: s.source.encode?.(r.item) ?? r.item }))),
          onBatch: async (b) => {
            sp.read += b.page.units;
            sp.written += b.written;
            sp.skipped += b.skipped;
            if (b.page.unchanged) sp.unchanged = (sp.unchanged ?? 0) + b.page.unchanged;
            sp.errors += b.rejected.length;
            sp.rejected.push(...b.rejected.slice(0, Math.max(0, MAX_REJECTED - sp.rejected.length)).map((r) => ({ id: r.id, reason: r.reason })));
            cp.cursor = b.page.cursor;
            cp.done += b.page.units;
            doneThisRun += b.page.units;
            await save();
          },
        });
      } catch (e) {
        // A run that lost the job touches nothing more (the index rebuild is the new run's to do).
        if (!(e instanceof TakenOver)) await s.target.finish?.().catch(() => undefined);
        throw e;
      }
      await run.check();
      await s.target.finish?.();
    }
    cp.finished = true;
    sp.finished = true;
    await save();
  }
  let rejected = await run.rejects.ids();
  if (ctx.live) {
    const live = ctx.live;
    await live.catchUp(
      () => run.check(),
      async (phase) => {
        progress.phase = phase;
        progress.live = live.report;
        await run.update({ progress });
      },
      async (rejects) => {
        await run.rejects.append(rejects);
        for (const r of rejects) {
          const sp = progress.steps.find((s) => s.name === r.step);
          if (sp) (sp.errors++, sp.rejected.length < MAX_REJECTED && sp.rejected.push({ id: r.id, reason: r.reason }));
        }
      },
    );
    rejected = await run.rejects.ids();
    const resolved = await live.retryRejected(rejected);
    for (const [step, ids] of resolved) {
      const left = new Set([...(rejected.get(step) ?? [])].filter((id) => !ids.has(id)));
      rejected.set(step, left);
      const sp = progress.steps.find((s) => s.name === step);
      if (sp) sp.errors = Math.min(sp.errors, left.size);
    }
    run.logger.log(`job ${job.id}: source frozen after ${live.report.rounds} catch-up round(s), ${live.report.applied} change(s) applied, ${live.report.resolvedRejects ?? 0} set-aside row(s) written after all`);
  }
  await run.check();
  await ctx.after?.();
  progress.phase = 'verify';
  await run.update({ progress });
  const options: VerifyOptions = { rejected, seed: job.id, progress, deferIndexRecall: !!ctx.live };
  const verification = await verifyOf(ctx, job.batchSize, options);
  await run.check();
  await finish(run, progress, verification, options.measureLater);
}

/** Records the outcome: a job is SUCCEEDED only when its verification passed. */
export async function finish(run: Run, progress: MigrationProgress, verification: MigrationVerification, measureLater?: () => Promise<void>): Promise<void> {
  const { job } = run;
  const rejected = progress.steps.reduce((n, s) => n + s.errors, 0);
  progress.phase = 'done';
  if (!verification.ok) {
    await run.update({ verification, progress });
    const why = verification.notes.length ? verification.notes.join(' ') : 'source and target differ';
    throw new SwitchyardError('VERIFICATION_FAILED', `verification failed: ${why} The job is not marked succeeded; inspect the verification and fix the cause, then run it again from the start (resumeMigration with overwrite) or verify it again (verify).`, { jobId: job.id });
  }
  let status: JobStatus = rejected > 0 ? 'SUCCEEDED_WITH_REJECTS' : 'SUCCEEDED';
  if (run.ctx.live) {
    await run.check();
    await run.ctx.live.cutOver();
    progress.live = run.ctx.live.report;
    status = 'CUT_OVER';
  }
  await measureLater?.(); // after the cutover: the old store is not frozen for it
  await run.update({ status, verification, progress, finishedAt: new Date(), error: null });
  const rejects = rejected > 0 ? `; ${rejected} record(s) set aside in ${run.rejects.relative}` : '';
  const freeze = progress.live?.freezeMs != null ? `; source frozen for ${progress.live.freezeMs} ms and left frozen` : '';
  run.logger.log(`job ${job.id}: ${job.kind} ${status.toLowerCase()} (verified)${rejects}${freeze}; ${summary(progress)}`);
}

/** Backs up what TRUNCATE / OVERWRITE would replace of one step's target (once per job), its count checked against the store. */
async function backUp(run: Run, s: Step, policy: ConflictPolicy, live?: MigrationProgress): Promise<void> {
  const { job, ctx } = run;
  const backups = [...((job.backups ?? []) as Backup[])];
  if (!ctx.backups || (policy !== 'TRUNCATE' && policy !== 'OVERWRITE') || !s.backup || backups.some((b) => b.step === s.name)) return;
  await run.check();
  // During the copy (a deferred backup): the run's own progress, its phase shown as backup meanwhile.
  const current: MigrationProgress = live ?? (job.progress as MigrationProgress | null) ?? { total: 0, done: 0, ratePerSecond: 0, etaSeconds: null, phase: 'backup', steps: [] };
  const phase = current.phase;
  await run.update({ progress: { ...current, phase: 'backup' } });
  const n = await s.target.count();
  // Named per run: a run that was taken over and wakes up can never overwrite the backup another run recorded.
  const tag = `${job.id.slice(0, 8)}_${run.runId.slice(0, 8)}`;
  const b: Backup = n === 0 ? { step: s.name, kind: s.backupKind ?? 'table', name: '', rows: 0, checksum: null, empty: true, createdAt: new Date().toISOString() } : await s.backup(tag);
  await run.check();
  const now = await s.target.count();
  if (b.rows !== now) {
    throw new SwitchyardError(
      'MIGRATION_STATE',
      `The backup of ${s.target.label} holds ${b.rows} records but the store holds ${now}; nothing was emptied or overwritten. ` +
        'The store changed during the backup (stop writers) or could not be read completely; resume the job to try again.',
      { step: s.name, backup: b.rows, store: now },
    );
  }
  backups.push(b);
  await run.update({ backups, progress: { ...current, phase } });
  run.logger.log(`job ${job.id}: backed up ${s.target.label} (${b.rows} records${b.empty ? ', empty' : ''})${b.name ? ` to ${b.kind === 'table' ? 'table' : 'file'} ${b.name}` : ''}`);
}

/**
 * First run only: back up what TRUNCATE / OVERWRITE would replace, check each backup's count against the
 * store, then empty the targets for TRUNCATE. Returns each step's record count once prepared.
 */
export async function prepareTarget(run: Run, policy: ConflictPolicy): Promise<number[]> {
  const { job, ctx } = run;
  const phase = (name: string) => run.update({ progress: { ...((job.progress as MigrationProgress | null) ?? { total: 0, done: 0, ratePerSecond: 0, etaSeconds: null, steps: [] }), phase: name } });
  // TRUNCATE empties the store first: its backup cannot wait for the first write.
  const deferred = (s: Step) => s.backupOnFirstWrite && policy === 'OVERWRITE' && !ctx.clearOnOverwrite;
  for (const s of ctx.steps) if (!deferred(s)) await backUp(run, s, policy);
  if (policy === 'TRUNCATE' || (policy === 'OVERWRITE' && ctx.clearOnOverwrite)) {
    for (const s of ctx.steps) {
      if (s.run) continue;
      await run.check();
      await phase('truncate');
      run.logger.warn(`job ${job.id}: emptying ${s.target.label} (onConflict ${policy})`);
      await s.target.clear();
    }
  }
  return Promise.all(ctx.steps.map((s) => (s.run ? 0 : s.target.count())));
}

/**
 * The target, with `first` run once just before the first page that has something to write: a deferred
 * backup, and the bulk-load preparation (pgvector: its HNSW index dropped, rebuilt by finish()). A job
 * that writes nothing (an incremental re-index of an unchanged corpus) leaves the index the app searches
 * with alone and needs no backup.
 */
function onFirstWrite<T>(target: DataWriter<T>, first: () => Promise<void>): DataWriter<T> {
  const view = Object.create(target) as DataWriter<T>;
  view.write = async (items, mode) => {
    if (items.length) await first();
    return target.write(items, mode);
  };
  return view;
}

/** The reader, each page's commit hook preceded by `first` (a hook may change the target even when the page's records were all rejected). */
function commitsAfter<T>(reader: DataReader<T>, first: () => Promise<void>): DataReader<T> {
  const view = Object.create(reader) as DataReader<T>;
  view.pages = async function* (size: number, after?: string) {
    for await (const page of reader.pages(size, after)) {
      const commit = page.commit;
      yield commit ? { ...page, commit: async () => (await first(), commit()) } : page;
    }
  };
  return view;
}
