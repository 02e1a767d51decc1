import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { ChromaClient } from 'chromadb';
import type { PostgresConnection, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { MigrationCheckpointEntity, MigrationJobEntity, RelationalDb } from '@switchyard/relational-db';
import type { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres, serviceEnv } from '../support/services';
import { openRelational, openVector } from '../../libs/migration/src/testing/fixtures';
import { DIMS, MODEL } from './data';
import { Prng } from './prng';
import type { JobSummary, RunnerConfig } from './protocol';

export interface FaultOptions {
  seed: number;
  /** Records per scenario: documents (relational) or vectors. */
  records: number;
  /** SIGKILLs per kill-and-resume scenario. */
  kills: number;
  /** Rounds of the concurrency scenarios. */
  rounds: number;
  /** Runner processes started at the same moment (concurrent start). */
  runners: number;
  batchSize: number;
  /** A RUNNING job whose heartbeat is older than this is dead (the runners' staleAfterMs). */
  staleAfterMs: number;
  log: (message: string) => void;
}

export const DEFAULTS: Omit<FaultOptions, 'seed' | 'log'> = { records: 3000, kills: 7, rounds: 3, runners: 3, batchSize: 100, staleAfterMs: 1500 };

/** One kill of a child, where it was aimed, where it landed, and what the job had committed then. */
export interface KillRecord {
  run: number;
  aimed: string;
  /** The phase the child last reported before the SIGKILL, or null if it was not killed. */
  landed: string | null;
  /** The job as recorded in the target after the kill: status, progress.phase, checkpoints, backups. */
  recorded: string;
}

export interface ScenarioResult {
  name: string;
  seed: number;
  ok: boolean;
  problems: string[];
  kills: KillRecord[];
  notes: string[];
  ms: number;
}

/** What a scenario gets: its own seeded stream, fresh stores, a place for problems and notes. */
export class ScenarioContext {
  readonly problems: string[] = [];
  readonly notes: string[] = [];
  readonly kills: KillRecord[] = [];
  private readonly cleanups: (() => Promise<unknown>)[] = [];

  constructor(
    readonly name: string,
    readonly rng: Prng,
    readonly opts: FaultOptions,
  ) {}

  problem(message: string): void {
    this.problems.push(message);
    this.opts.log(`  ✗ ${message}`);
  }

  note(message: string): void {
    this.notes.push(message);
    this.opts.log(`  · ${message}`);
  }

  /** Runs at the end of the scenario, last registered first. */
  defer(fn: () => Promise<unknown>): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.reverse()) await fn().catch((e) => this.opts.log(`  cleanup failed: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** A fresh PostgreSQL database (dropped at the end). */
  async postgres(prefix: string): Promise<{ connection: PostgresConnection; relational: Extract<RelationalDbConfig, { provider: 'postgres' }>; vector(collection?: string): VectorDbConfig }> {
    const pg = await freshPostgres(prefix);
    this.defer(() => pg.drop());
    return {
      connection: pg.connection,
      relational: { provider: 'postgres', logging: false, ...pg.connection },
      vector: (collection = 'vector_embeddings') => ({ provider: 'pgvector', connection: pg.connection, dimensions: DIMS, collection }),
    };
  }

  /** A fresh folder (removed at the end) with a data dir for exports and backups. */
  dir(): { dir: string; dataDir: string; file(name: string): string } {
    const d = freshDir('sy-faults-');
    this.defer(async () => d.remove());
    return { dir: d.dir, dataDir: path.join(d.dir, 'data'), file: d.file };
  }

  /** A Chroma collection name of its own (deleted at the end). */
  chroma(prefix: string): VectorDbConfig {
    const url = serviceEnv('TEST_CHROMA_URL');
    const name = `${prefix}_${randomBytes(4).toString('hex')}`;
    this.defer(async () => {
      const u = new URL(url);
      const client = new ChromaClient({ host: u.hostname, port: Number(u.port) });
      const names = (await client.listCollections()).map((c) => c.name);
      if (names.includes(name)) await client.deleteCollection({ name });
    });
    return { provider: 'chromadb', url, dimensions: DIMS, collection: name };
  }

  /** Opens a store for seeding or checking; closed at the end (or by `use`). */
  async relational(config: RelationalDbConfig): Promise<RelationalDb> {
    const db = await openRelational(config);
    this.defer(() => db.close());
    return db;
  }

  async vector(config: VectorDbConfig, model: string | null = MODEL): Promise<VectorDb> {
    const db = await openVector(config, model);
    this.defer(() => db.close());
    return db;
  }

  /** Opens, runs fn, closes: a reading that sees the stores as they are now (no cached state). */
  async withStores<T>(rel: RelationalDbConfig | null, vec: VectorDbConfig | null, fn: (rel: RelationalDb, vec: VectorDb) => Promise<T>): Promise<T> {
    const r = rel ? await openRelational(rel) : null;
    try {
      const v = vec ? await openVector(vec, null) : null;
      try {
        return await fn(r!, v!);
      } finally {
        await v?.close();
      }
    } finally {
      await r?.close();
    }
  }

  runnerConfig(target: RunnerConfig['target'], profiles: RunnerConfig['profiles'], dataDir: string): RunnerConfig {
    return { target, profiles, dataDir, staleAfterMs: this.opts.staleAfterMs, defaultBatchSize: this.opts.batchSize };
  }
}

/** The job as the target records it, in one line: status, phase, checkpoints (done/total per step), backups. */
export async function recordedState(db: RelationalDb, jobId: string): Promise<string> {
  const job = await db.repository(MigrationJobEntity).findOne({ where: { id: jobId } });
  if (!job) return 'no job row';
  const cps = await db.repository(MigrationCheckpointEntity).find({ where: { jobId }, order: { step: 'ASC' } });
  const phase = (job.progress as { phase?: string } | null)?.phase ?? '-';
  const steps = cps.map((c) => `${c.step} ${c.done}/${c.total}${c.finished ? ' ✓' : ''}`).join(', ') || 'no checkpoints';
  const backups = Array.isArray(job.backups) ? job.backups.length : 0;
  return `${job.status}, phase ${phase}, ${steps}, ${backups} backup(s)`;
}

export interface Scenario {
  name: string;
  /** What it shows, one line. */
  about: string;
  run(ctx: ScenarioContext): Promise<void>;
}

/** Runs one scenario with its own seeded stream; an exception is a problem, cleanup always runs. */
export async function runScenario(s: Scenario, opts: FaultOptions): Promise<ScenarioResult> {
  const ctx = new ScenarioContext(s.name, new Prng(opts.seed).fork(s.name), opts);
  const t0 = Date.now();
  opts.log(`▶ ${s.name} (seed ${opts.seed}): ${s.about}`);
  try {
    await s.run(ctx);
  } catch (e) {
    ctx.problem(`scenario aborted: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } finally {
    await ctx.cleanup();
  }
  const result: ScenarioResult = { name: s.name, seed: opts.seed, ok: ctx.problems.length === 0, problems: ctx.problems, kills: ctx.kills, notes: ctx.notes, ms: Date.now() - t0 };
  opts.log(`${result.ok ? '✔' : '✘'} ${s.name}: ${result.ok ? 'ok' : `${result.problems.length} problem(s)`} in ${(result.ms / 1000).toFixed(1)} s, ${result.kills.filter((k) => k.landed).length} kill(s)`);
  return result;
}

/** A scenario's result as text: problems, kills, notes, and the command that replays it. */
export function report(r: ScenarioResult, opts: Pick<FaultOptions, 'records' | 'kills' | 'rounds'>): string {
  const lines = [`${r.ok ? 'PASSED' : 'FAILED'} ${r.name} — seed ${r.seed}, ${(r.ms / 1000).toFixed(1)} s`];
  for (const p of r.problems) lines.push(`  ✗ ${p}`);
  if (r.kills.length) {
    lines.push(`  kills (${r.kills.filter((k) => k.landed).length}):`);
    for (const k of r.kills) lines.push(`    #${k.run} aimed ${k.aimed} -> ${k.landed ? `killed in ${k.landed}` : 'not killed'}; recorded: ${k.recorded}`);
  }
  for (const n of r.notes) lines.push(`  · ${n}`);
  lines.push(`  replay: npm run test:faults -- --scenario ${r.name} --seed ${r.seed} --records ${opts.records} --kills ${opts.kills} --rounds ${opts.rounds}`);
  return lines.join('\n');
}

/** A job as the target records it, in the shape the runners report (error stored as "CODE: message"). */
export async function jobFromDb(db: RelationalDb, id: string): Promise<JobSummary | null> {
  const j = await db.repository(MigrationJobEntity).findOne({ where: { id } });
  if (!j) return null;
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(j.error ?? '');
  const verification = j.verification as { ok?: boolean } | null;
  const backups = (Array.isArray(j.backups) ? j.backups : []) as JobSummary['backups'];
  return { id: j.id, status: j.status, errorCode: m ? m[1] : null, error: m ? m[2] : j.error, verificationOk: verification ? verification.ok === true : null, backups };
}
