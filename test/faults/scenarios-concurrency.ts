import { setTimeout as sleep } from 'node:timers/promises';
import type { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import type { MigrationKind } from '@switchyard/migration';
import { MigrationJobEntity, RelationalDb } from '@switchyard/relational-db';
import { judge, relationalProblems, vectorProblems } from './checks';
import { deployment, DIMS, MODEL, seedRelational, seedVectors } from './data';
import { jobFromDb, recordedState, Scenario, ScenarioContext } from './harness';
import type { RunnerConfig } from './protocol';
import { runners, RunnerProcess } from './runner';

/** Records for the concurrency scenarios: they show races, not volume. */
const sizeOf = (records: number) => Math.min(records, 3000);

interface Setup {
  config: RunnerConfig;
  db: RelationalDb;
  /** Compares the target's data for `kind` with the source. */
  problems(kind: MigrationKind): Promise<string[]>;
}

/** A source deployment (SQLite + sqlite-vec in one file, like a dev install) and an empty PostgreSQL + pgvector target. */
async function setup(ctx: ScenarioContext, prefix: string): Promise<Setup> {
  const n = sizeOf(ctx.opts.records);
  const dep = deployment(ctx.rng, { docs: n, users: Math.max(5, Math.round(n / 50)), vectors: n });
  const dir = ctx.dir();
  const sourceRel: RelationalDbConfig = { provider: 'sqlite', database: dir.file('source.sqlite'), logging: false };
  const sourceVec: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('source.sqlite'), dimensions: DIMS, collection: 'vector_embeddings' };
  await ctx.withStores(sourceRel, sourceVec, async (rel, vec) => {
    await seedRelational(rel, dep);
    await vec.recordModel(MODEL);
    await seedVectors(vec, dep);
  });
  const pg = await ctx.postgres(prefix);
  const target = { relational: pg.relational, vector: pg.vector() };
  const db = await ctx.relational(pg.relational);
  await seedRelational(db, dep); // vectors name documents: the target has them from the start (a RELATIONAL round replaces them with the same)
  // the collection exists before the runners open it: several processes creating it at once is not what is tested here
  await ctx.withStores(null, target.vector, (_, v) => v.recordModel(MODEL));
  const config = ctx.runnerConfig({ ...target, model: MODEL }, { source: { name: 'source', relational: sourceRel, vector: sourceVec } }, dir.dataDir);
  return {
    config,
    db,
    problems: (kind) => (kind === 'RELATIONAL' ? relationalProblems(ctx, sourceRel, target.relational) : vectorProblems(ctx, sourceVec, target)),
  };
}

export const concurrentStart: Scenario = {
  name: 'concurrent-start',
  about: 'two or three runner processes start the same kind of migration into one target at the same moment: exactly one runs, the others get MIGRATION_LOCKED',
  async run(ctx: ScenarioContext) {
    const s = await setup(ctx, 'faultlock');
    const all = await runners(`${ctx.name}-`, ctx.opts.runners);
    ctx.defer(() => Promise.all(all.map((r) => r.kill())));
    await Promise.all(all.map((r) => r.open(s.config)));
    for (let round = 1; round <= ctx.opts.rounds; round++) {
      const kind: MigrationKind = round % 2 ? 'VECTORS' : 'RELATIONAL';
      const what = `round ${round} (${kind})`;
      // every request is written before any reply is read: the starts race in the service, not here
      const results = await Promise.all(all.map((r) => r.start({ kind, source: 'source', onConflict: 'TRUNCATE', batchSize: ctx.opts.batchSize })));
      const accepted = all.filter((_, i) => results[i].accepted);
      if (accepted.length !== 1) {
        ctx.problem(`${what}: ${accepted.length} of ${all.length} runners started simultaneously were accepted (jobs ${results.map((r) => (r.accepted ? r.jobId : '-')).join(', ')}); exactly one may run`);
      }
      ctx.note(`${what}: ${results.map((r, i) => `${all[i].name} ${r.accepted ? 'accepted' : `refused ${r.code}`}`).join(', ')}`);
      for (const r of results) {
        if (!r.accepted && r.code !== 'MIGRATION_LOCKED') ctx.problem(`${what}: a competing start was refused with ${r.code} instead of MIGRATION_LOCKED: ${r.message}`);
      }
      const jobs = await Promise.all(accepted.map((r) => r.finished()));
      const data = await s.problems(kind);
      jobs.forEach((job, i) => judge(ctx, `${what} ${accepted[i].name}`, job, i === 0 ? data : [], accepted.length === 1));
    }
  },
};

export const concurrentResume: Scenario = {
  name: 'concurrent-resume',
  about: 'a job is SIGKILLed mid-copy, then two processes resume it at the same moment: exactly one continues it, and it ends equal to the source',
  async run(ctx: ScenarioContext) {
    const s = await setup(ctx, 'faultresume');
    const rounds = ctx.opts.rounds;
    const victims = await runners(`${ctx.name}-victim`, rounds);
    const resumers = await runners(`${ctx.name}-`, 2);
    ctx.defer(() => Promise.all([...victims, ...resumers].map((r) => r.kill())));
    await Promise.all(resumers.map((r) => r.open(s.config)));
    const batches = Math.ceil(sizeOf(ctx.opts.records) / ctx.opts.batchSize);
    for (let round = 1; round <= rounds; round++) {
      const kind: MigrationKind = round % 2 ? 'RELATIONAL' : 'VECTORS';
      const what = `round ${round} (${kind})`;
      const victim = victims[round - 1];
      await victim.open(s.config);
      const jobId = await killMidCopy(ctx, victim, s.db, kind, ctx.rng.int(2, Math.max(2, Math.floor(batches / 2))), round);
      if (!jobId) continue;
      await waitStale(s.db, jobId, ctx.opts.staleAfterMs);
      const results = await Promise.all(resumers.map((r) => r.resume(jobId)));
      const accepted = resumers.filter((_, i) => results[i].accepted);
      const ends = await Promise.all(accepted.map((r) => r.finished()));
      const continued = resumers.filter((r, i) => results[i].accepted && r.writes > 0);
      const how = resumers.map((r, i) => `${r.name}: ${results[i].accepted ? `accepted, ${r.writes} write call(s)${r.logs.some((l) => /another process resumed/.test(l)) ? ', then stood down' : ''}` : `refused ${(results[i] as { code: string }).code}`}`).join('; ');
      if (continued.length !== 1) ctx.problem(`${what}: ${continued.length} of 2 processes continued job ${jobId} when both resumed it at the same moment (${how}); exactly one may`);
      else ctx.note(`${what}: ${how}`);
      const job = (await jobFromDb(s.db, jobId)) ?? ends.find((e) => e) ?? null;
      judge(ctx, what, job, await s.problems(kind), true);
    }
  },
};

/** Starts a job in `victim` and SIGKILLs it after its `nth` batch write; returns the job id (null if it finished first). */
async function killMidCopy(ctx: ScenarioContext, victim: RunnerProcess, db: RelationalDb, kind: MigrationKind, nth: number, round: number): Promise<string | null> {
  let killing: Promise<void> | null = null;
  const off = victim.onPhase((e) => {
    if (!killing && e.phase === 'checkpoint' && e.n >= nth) killing = victim.kill();
  });
  const r = await victim.start({ kind, source: 'source', onConflict: 'TRUNCATE', batchSize: ctx.opts.batchSize });
  if (!r.accepted) {
    off();
    ctx.problem(`round ${round}: the start to be killed was refused: ${r.code}: ${r.message}`);
    return null;
  }
  await Promise.race([victim.exited, victim.finished()]);
  off();
  if (victim.alive) {
    ctx.note(`round ${round}: the job finished before its kill at batch ${nth}`);
    return null;
  }
  ctx.kills.push({ run: round, aimed: `checkpoint#${nth}+0ms`, landed: victim.lastPhase, recorded: await recordedState(db, r.jobId) });
  return r.jobId;
}

/** Waits until the dead job's last heartbeat is older than staleAfterMs (so a resume may take it over). */
async function waitStale(db: RelationalDb, jobId: string, staleAfterMs: number): Promise<void> {
  const job = await db.repository(MigrationJobEntity).findOne({ where: { id: jobId } });
  const last = (job?.heartbeatAt ?? job?.updatedAt ?? new Date()).getTime();
  await sleep(Math.max(0, last + staleAfterMs + 250 - Date.now()));
}
