import { setTimeout as sleep } from 'node:timers/promises';
import type { StartMigrationInput } from '@switchyard/migration';
import { MigrationJobEntity, RelationalDb } from '@switchyard/relational-db';
import { recordedState, ScenarioContext } from './harness';
import { Prng } from './prng';
import { JobSummary, Phase, PHASE_RANK, RunnerConfig } from './protocol';
import { LaunchResult, RunnerProcess } from './runner';

/** Kill the child `delayMs` after its `nth` report of `phase` in this run (or after the first report of a later phase). */
export interface KillPoint {
  phase: Phase;
  nth: number;
  delayMs: number;
}

/** Upper bound of the seeded delay after the phase report, per phase (how long the phase lasts at CI size). */
const MAX_DELAY: Record<Phase, number> = { backup: 40, truncate: 6, copy: 25, checkpoint: 4, index: 250, verify: 150 };

/**
 * `n` kill points spread over `phases`: each phase gets its share (the rest drawn at random), in job
 * order, so early phases are hit while the job is still in them (a killed backup is redone by the
 * resumed run and can be killed again). Copy/checkpoint kills land at a seeded batch, spaced so the
 * job still moves forward across `batches` batches.
 */
export function planKills(rng: Prng, n: number, phases: Phase[], batches: number): KillPoint[] {
  const share = new Map<Phase, number>(phases.map((p) => [p, Math.floor(n / phases.length)]));
  for (const p of rng.shuffle(phases).slice(0, n % phases.length)) share.set(p, share.get(p)! + 1);
  const copyKills = (share.get('copy') ?? 0) + (share.get('checkpoint') ?? 0);
  const spacing = Math.max(1, Math.floor(batches / (copyKills + 1)));
  const points: KillPoint[] = [];
  for (const p of phases) {
    for (let i = 0; i < share.get(p)!; i++) {
      const nth = p === 'copy' || p === 'checkpoint' ? rng.int(1, spacing) : p === 'backup' || p === 'truncate' ? rng.int(1, 2) : 1;
      points.push({ phase: p, nth, delayMs: rng.int(0, MAX_DELAY[p]) });
    }
  }
  // copy and checkpoint share a rank: interleave them in a seeded order
  return points.sort((a, b) => PHASE_RANK[a.phase] - PHASE_RANK[b.phase] || (a.phase === b.phase ? 0 : rng.next() - 0.5));
}

const label = (k: KillPoint) => `${k.phase}#${k.nth}+${k.delayMs}ms`;

/** Arms a SIGKILL on `run` at point `k`; `landed` resolves with the phase it landed in once the process is dead (null if disarmed). */
function armKill(run: RunnerProcess, k: KillPoint): { landed: Promise<Phase | null>; fired(): boolean; disarm(): void } {
  let timer: NodeJS.Timeout | undefined;
  let resolve!: (p: Phase | null) => void;
  const landed = new Promise<Phase | null>((r) => (resolve = r));
  const off = run.onPhase((e) => {
    if (timer) return;
    const later = PHASE_RANK[e.phase] > PHASE_RANK[k.phase];
    if (!later && !(e.phase === k.phase && e.n >= k.nth)) return;
    timer = setTimeout(() => {
      const at = run.lastPhase;
      void run.kill().then(() => resolve(at));
    }, k.delayMs);
  });
  return {
    landed,
    fired: () => timer !== undefined,
    disarm: () => {
      off();
      if (timer) clearTimeout(timer);
      resolve(null);
    },
  };
}

/**
 * Resumes a job whose process died. Refusals because its heartbeat is still fresh ("running in another
 * process", MIGRATION_LOCKED) are retried once the heartbeat is older than staleAfterMs.
 */
export async function resumeDead(run: RunnerProcess, db: RelationalDb, jobId: string, staleAfterMs: number): Promise<{ result: LaunchResult; waitedMs: number }> {
  let waitedMs = 0;
  for (let attempt = 0; ; attempt++) {
    const result = await run.resume(jobId);
    if (result.accepted || !['MIGRATION_STATE', 'MIGRATION_LOCKED'].includes(result.code) || attempt >= 5) return { result, waitedMs };
    const job = await db.repository(MigrationJobEntity).findOne({ where: { id: jobId } });
    const last = (job?.heartbeatAt ?? job?.updatedAt ?? new Date()).getTime();
    const wait = Math.max(100, last + staleAfterMs + 150 - Date.now());
    waitedMs += wait;
    await sleep(wait);
  }
}

export interface KillResumeOutcome {
  jobId: string | null;
  /** The job when it last ended in a runner (null: never finished). */
  final: JobSummary | null;
  /** Time spent waiting for dead jobs' heartbeats to go stale before a resume was accepted. */
  waitedMs: number;
}

/**
 * Starts the job in a child, SIGKILLs it at each point of `plan` (each resume runs in a new child, which
 * can itself be killed), then lets the last resume finish. The next child is loaded while the current
 * one runs. `db` is the harness's own connection to the target's relational DB (job records).
 */
export async function killAndResume(ctx: ScenarioContext, o: { config: RunnerConfig; input: StartMigrationInput; plan: KillPoint[]; db: RelationalDb }): Promise<KillResumeOutcome> {
  let jobId: string | null = null;
  let waitedMs = 0;
  let next: RunnerProcess | null = new RunnerProcess(`${ctx.name}-run1`);
  try {
    for (let i = 0; ; i++) {
      const run: RunnerProcess = next!;
      // the run after this one is loading while this one works (a kill is planned for this one)
      next = i < o.plan.length ? new RunnerProcess(`${ctx.name}-run${i + 2}`) : null;
      ctx.defer(() => run.kill());
      const t0 = Date.now();
      await run.open(o.config);
      const t1 = Date.now();
      const point = o.plan[i];
      const kill = point ? armKill(run, point) : null;
      let launched: LaunchResult;
      if (jobId === null) {
        launched = await run.start(o.input);
      } else {
        const r = await resumeDead(run, o.db, jobId, ctx.opts.staleAfterMs);
        waitedMs += r.waitedMs;
        launched = r.result;
      }
      if (!launched.accepted) {
        kill?.disarm();
        ctx.problem(`${jobId ? `resume of job ${jobId}` : 'start'} (run ${i + 1}) was refused: ${launched.code}: ${launched.message}`);
        return { jobId: jobId ?? launched.jobId ?? null, final: null, waitedMs };
      }
      jobId = launched.jobId;
      const ended = await Promise.race([run.finished().then((job) => ({ job })), kill ? kill.landed.then((phase) => ({ phase })) : new Promise<never>(() => undefined)]);
      if ('job' in ended && ended.job && run.alive) {
        kill?.disarm();
        if (point) {
          ctx.kills.push({ run: i + 1, aimed: label(point), landed: null, recorded: `the job ended ${ended.job.status} before the kill` });
          ctx.note(`kill #${i + 1} (${label(point)}) and the ${o.plan.length - i - 1} after it were not made: the job ended ${ended.job.status} first`);
          if (!ctx.kills.some((k) => k.landed)) ctx.problem(`no kill landed: the job ended before the first one (${label(point)}); use more records`);
        }
        return { jobId, final: ended.job, waitedMs };
      }
      let landed: Phase | null = null;
      if ('phase' in ended) landed = ended.phase;
      else if (kill?.fired()) landed = await kill.landed;
      else kill?.disarm();
      if (!point || landed === null) {
        ctx.problem(`runner ${i + 1} of job ${jobId} died without being killed\n${run.output()}`);
        return { jobId, final: null, waitedMs };
      }
      ctx.kills.push({ run: i + 1, aimed: label(point), landed, recorded: await recordedState(o.db, jobId) });
      ctx.opts.log(`  kill #${i + 1}: aimed ${label(point)}, killed in ${landed}; recorded ${ctx.kills[ctx.kills.length - 1].recorded} (load+open ${t1 - t0} ms, run ${Date.now() - t1} ms)`);
    }
  } finally {
    await next?.kill();
  }
}
