import 'reflect-metadata';
import { Presets, SingleBar } from 'cli-progress';
import { Command, CommanderError } from 'commander';
import { ConfigError, embeddingModelName, loadConfig, SwitchyardError } from '@switchyard/core';
import { createEmbeddings, createNextEmbeddings, EmbeddingModels } from '@switchyard/embeddings';
import { Generation, ModelGenerations } from '@switchyard/knowledge';
import { ConflictPolicy, createMigrationService, DatasetKind, MigrationJob, MigrationKind, MigrationService } from '@switchyard/migration';
import { createRelationalDb } from '@switchyard/relational-db';
import { createVectorDb } from '@switchyard/vector-db';

const DESCRIPTION =
  'Providers come from the environment / .env (the target = the active providers; --source names a MIGRATION_<NAME>_* profile, default "source"). Files live under MIGRATION_DATA_DIR.';

/** Final pgloader-like summary: per table/collection read, written, skipped, errors, time. */
function summary(job: MigrationJob): string {
  const rows = (job.progress?.steps ?? []).map((s) => [s.name, s.read, s.written, s.skipped, s.errors, `${(s.ms / 1000).toFixed(2)}s`]);
  const head = ['table', 'read', 'written', 'skipped', 'errors', 'time'];
  const all = [head, ...rows].map((r) => r.map(String));
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const out = [line(all[0]), w.map((n) => '-'.repeat(n)).join('  '), ...all.slice(1).map(line)];
  out.push('', `job ${job.id}: ${job.status}${job.error ? ` — ${job.errorCode ?? ''} ${job.error}` : ''}`);
  if (job.verification) {
    out.push(`verification: ${job.verification.ok ? 'OK' : 'FAILED'}${job.verification.recallAt10 !== null ? `, recall@10 ${job.verification.recallAt10.toFixed(3)}` : ''}${job.verification.orphans != null ? `, ${job.verification.orphans} orphan vector(s)` : ''}`);
    for (const t of job.verification.tables) out.push(`  ${t.name}: source ${t.sourceCount}, target ${t.targetCount}, checksum ${t.checksumMatch === null ? 'n/a' : t.checksumMatch ? 'match' : 'MISMATCH'}`);
  }
  if (job.backups.length) out.push(`backups: ${job.backups.map((b) => (b.empty ? `${b.step} (empty)` : `${b.kind}:${b.name}`)).join(', ')}`);
  const rejected = (job.progress?.steps ?? []).reduce((n, s) => n + s.errors, 0);
  if (rejected && job.options.rejectFile) out.push(`rejects: ${rejected} record(s) in ${job.options.rejectFile} (inside MIGRATION_DATA_DIR)`);
  if (job.status === 'PLANNED' && job.plan) out.push('plan:', JSON.stringify(job.plan, null, 2));
  return out.join('\n');
}

/** The phase, and for a queued job its partitions and workers: "copy, 7/20 partitions on 3 workers, 9 attempts". */
function phaseOf(p: NonNullable<MigrationJob['progress']>): string {
  const q = p.queue;
  return q ? `${p.phase}, ${q.finished}/${q.partitions} partitions on ${q.workers.length} worker${q.workers.length === 1 ? '' : 's'}, ${q.attempts} attempts` : p.phase;
}

/**
 * Follows a running job on stderr with a cli-progress bar: rows done of total, percent, rows/s, ETA and
 * the phase (copy, catch-up, freeze, verify). Not a terminal (CI logs): a line every 2 s instead.
 */
async function follow(service: MigrationService, job: MigrationJob): Promise<MigrationJob> {
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: `${job.kind} [{bar}] {percentage}% {value}/{total} {rate}/s ETA {eta_formatted} ({phase})`,
      barsize: 30,
      noTTYOutput: true,
      notTTYSchedule: 2000,
      etaBuffer: 20,
      hideCursor: true,
    },
    Presets.legacy,
  );
  bar.start(job.progress?.total ?? 0, job.progress?.done ?? 0, { rate: 0, phase: job.progress?.phase ?? 'starting' });
  const off = service.subscribe(job.id, (j) => {
    const p = j.progress;
    if (!p) return;
    bar.setTotal(p.total);
    bar.update(p.done, { rate: Math.round(p.ratePerSecond), phase: phaseOf(p) });
  });
  try {
    return await service.waitFor(job.id);
  } finally {
    off();
    bar.stop();
  }
}

/** The commands, parsed by commander; each sets the exit code through `done`. */
function program(run: (fn: (s: Session) => Promise<number>) => Promise<void>): Command {
  const kinds = (allowed: string[]) => (s: string | undefined) => {
    const k = (s ?? '').toUpperCase().replace(/-/g, '_');
    if (!allowed.includes(k)) throw new SwitchyardError('BAD_INPUT', `expected one of ${allowed.map((a) => a.toLowerCase().replace(/_/g, '-')).join(', ')}; got ${JSON.stringify(s ?? '')}`);
    return k;
  };
  const policy = (v: string) => v.toUpperCase() as ConflictPolicy;
  const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const whole = (name: string) => (v: string) => {
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new SwitchyardError('BAD_INPUT', `${name} is a whole number; got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const cli = new Command('switchyard').description(DESCRIPTION).showHelpAfterError().configureOutput({ writeOut: (t) => process.stdout.write(t), writeErr: (t) => process.stderr.write(t) });
  cli
    .command('migrate')
    .description('copy relational data, vectors, both (full-stack), or re-index the documents (reindex: those whose chunks changed; --full: all) into the active providers')
    .argument('<kind>', 'relational | vectors | reindex | full-stack')
    .option('--dry-run', 'plan only: counts, conflicts, rejects predicted, an estimate')
    .option('--on-conflict <policy>', 'FAIL | SKIP | OVERWRITE | TRUNCATE', policy)
    .option('--source <name>', 'the MIGRATION_<NAME>_* profile to read from')
    .option('--batch-size <n>', 'records per batch', (v) => Number(v))
    .option('--tables <list>', 'only these tables (comma-separated)', list)
    .option('--exclude-tables <list>', 'all tables but these', list)
    .option('--live', 'keep the source writable: capture changes, catch up, freeze briefly, cut over')
    .option('--full', 'reindex: embed every document again (default: only those whose stored chunks differ from what the model and chunker make)')
    .option('--blue-green', 'reindex: build a new generation with EMBEDDINGS_NEXT_* beside the live one, which the app keeps searching (then: switchyard models switch <id>)')
    .action((arg: string, o) =>
      run(async (s) => {
        const kind = kinds(['RELATIONAL', 'VECTORS', 'REINDEX', 'FULL_STACK'])(arg) as MigrationKind;
        if (kind === 'REINDEX') await s.embeddings.init();
        const tables = o.tables || o.excludeTables ? { include: o.tables, exclude: o.excludeTables } : undefined;
        return s.finish(await s.service.start({ kind, source: o.source, dryRun: !!o.dryRun, onConflict: o.onConflict, batchSize: o.batchSize, tables, live: !!o.live, full: !!o.full, ...(o.blueGreen ? { mode: 'BLUE_GREEN' as const } : {}) }));
      }),
    );
  cli
    .command('unfreeze')
    .description('end the write freeze a live migration left on a source (rollback)')
    .option('--source <name>', 'the source profile', 'source')
    .action((o) =>
      run(async (s) => {
        const was = await s.service.unfreeze(o.source);
        process.stdout.write(was ? 'unfrozen: the source takes writes again\n' : 'the source was not frozen\n');
        return 0;
      }),
    );
  cli
    .command('resume')
    .description('continue a stopped job from its checkpoints')
    .argument('<jobId>')
    .option('--overwrite', 'run a finished or failed job again from the start')
    .action((id: string, o) => run(async (s) => s.finish(await s.service.resume(id, { overwrite: !!o.overwrite }))));
  cli
    .command('export')
    .description('write relational rows or vectors to an NDJSON file')
    .argument('<kind>', 'relational | vectors')
    .requiredOption('--path <file>', 'the file, inside MIGRATION_DATA_DIR')
    .option('--source <name>', 'the source profile (default: the active providers)')
    .option('--overwrite', 'replace an existing file')
    .action((arg: string, o) =>
      run(async (s) => s.finish(await s.service.exportData({ kind: kinds(['RELATIONAL', 'VECTORS'])(arg) as DatasetKind, path: o.path, source: o.source, overwrite: !!o.overwrite }))),
    );
  cli
    .command('import')
    .description('load an NDJSON export into the active providers')
    .argument('<kind>', 'relational | vectors')
    .requiredOption('--path <file>', 'the file, inside MIGRATION_DATA_DIR')
    .option('--on-conflict <policy>', 'FAIL | SKIP | OVERWRITE | TRUNCATE', policy)
    .option('--dry-run', 'plan only')
    .action((arg: string, o) =>
      run(async (s) => s.finish(await s.service.importData({ kind: kinds(['RELATIONAL', 'VECTORS'])(arg) as DatasetKind, path: o.path, onConflict: o.onConflict, dryRun: !!o.dryRun }))),
    );
  cli
    .command('verify')
    .description('verify a job\'s target against its source again')
    .argument('<jobId>')
    .action((id: string) =>
      run(async (s) => {
        const v = await s.service.verify(id);
        process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
        return v.ok ? 0 : 1;
      }),
    );
  cli
    .command('restore')
    .description('restore the backups a TRUNCATE/OVERWRITE job took')
    .argument('<jobId>')
    .action((id: string) => run(async (s) => s.finish(await s.service.restoreBackup(id))));
  cli
    .command('worker')
    .description('run queued migration partitions (MIGRATION_QUEUE=bullmq, REDIS_URL) until SIGINT / SIGTERM; start one or more per machine')
    .option('--concurrency <n>', 'partitions at once (default MIGRATION_WORKER_CONCURRENCY)', (v) => Number(v))
    .action((o) =>
      run(async (s) => {
        if (o.concurrency !== undefined) {
          if (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 64) throw new SwitchyardError('BAD_INPUT', `--concurrency: got ${JSON.stringify(o.concurrency)}; allowed: an integer from 1 to 64`);
        }
        const worker = s.service.startWorker({ concurrency: o.concurrency });
        process.stderr.write(`switchyard worker ${process.pid}: waiting for partitions\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        // Finishes the partitions it holds; a second signal (or SIGKILL) leaves them to another worker.
        await worker.close();
        return 0;
      }),
    );
  const models = cli.command('models').description('the embedding generations of a model switch (see the README: "Changing the embedding model without downtime")');
  const generations = (rows: Generation[]) => rows.map((g) => `${String(g.id).padStart(3)}  ${g.state.padEnd(8)} ${g.model} (${g.dimensions} dims) in ${g.collection}${g.jobId ? `, built by job ${g.jobId}` : ''}\n`).join('');
  models
    .command('list', { isDefault: true })
    .description('every generation, oldest first')
    .action(() => run(async (s) => (process.stdout.write(generations(await s.service.models.list())), 0)));
  models
    .command('switch')
    .description('the atomic flip: make a generation active (a BUILDING one once its blue/green re-index SUCCEEDED); every instance follows within KNOWLEDGE_GENERATION_POLL_MS')
    .argument('<generation>', 'its id (switchyard models list)', whole('generation'))
    .action((id: number) => run(async (s) => (process.stdout.write(generations([await s.service.models.switchTo(id)])), 0)));
  models
    .command('rollback')
    .description('flip back to the generation the last switch replaced')
    .action(() => run(async (s) => (process.stdout.write(generations([await s.service.models.rollback()])), 0)));
  models
    .command('drop')
    .description('garbage-collect a generation nobody searches: writes stop, then a counted backup to MIGRATION_DATA_DIR, then its collection is removed')
    .argument('<generation>', 'its id (switchyard models list)', whole('generation'))
    .option('--grace-ms <n>', 'how long writes that read the generations before the drop may still go to it', whole('--grace-ms'), 5000)
    .action((id: number, o) =>
      run(async (s) => {
        const g = await s.service.models.drop(id, o.graceMs);
        process.stdout.write(generations([g]) + (g.backup ? `backup: ${g.backup.records} records in ${g.backup.file} (inside MIGRATION_DATA_DIR)\n` : 'backup: none (it held nothing)\n'));
        return 0;
      }),
    );
  cli
    .command('status')
    .description('one job, or the latest jobs')
    .argument('[jobId]')
    .action((id: string | undefined) =>
      run(async (s) => {
        const jobs = id ? [await s.service.get(id)] : await s.service.list(20);
        for (const j of jobs) process.stdout.write(`${j.id}  ${j.kind.padEnd(10)} ${j.status.padEnd(22)} ${j.source} -> ${j.target}  ${j.progress ? `${j.progress.done}/${j.progress.total} (${phaseOf(j.progress)})` : ''}\n`);
        return 0;
      }),
    );
  return cli;
}

/** The open providers of one CLI run, and how a started job ends it. */
interface Session {
  service: MigrationService;
  embeddings: ReturnType<typeof createEmbeddings>;
  finish(job: MigrationJob): Promise<number>;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  let code = 0;
  const cli = program(async (fn) => {
    code = await withSession(fn);
  });
  if (!argv.length) {
    cli.outputHelp();
    return 2;
  }
  cli.exitOverride();
  try {
    await cli.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 2;
    throw e;
  }
  return code;
}

/** Opens the providers from the environment, runs one command, closes them. */
async function withSession(fn: (s: Session) => Promise<number>): Promise<number> {
  try {
    process.loadEnvFile?.('.env');
  } catch {
    /* no .env */
  }
  const config = loadConfig();
  const relational = createRelationalDb(config.relational);
  const vector = createVectorDb(config.vector, embeddingModelName(config.embeddings));
  const embeddings = createEmbeddings(config.embeddings);
  const next = createNextEmbeddings(config.embeddings);
  await relational.init();
  await vector.init();
  // The generations as the app records them (no polling: each command reads them afresh); models load when used.
  const generations = new ModelGenerations(relational, vector, new EmbeddingModels(embeddings, next), config.knowledge.generationPollMs);
  const service = createMigrationService(config, relational, vector, embeddings, generations);
  try {
    return await fn({
      service,
      embeddings,
      finish: async (job) => {
        const final = job.status === 'RUNNING' ? await follow(service, job) : job;
        process.stdout.write(`${summary(final)}\n`);
        // 0: verified; 2: verified, with records set aside (see the reject file); 1: anything else.
        return final.status === 'SUCCEEDED' || final.status === 'CUT_OVER' || final.status === 'PLANNED' ? 0 : final.status === 'SUCCEEDED_WITH_REJECTS' ? 2 : 1;
      },
    });
  } finally {
    // Each one closed whatever happened to the others.
    for (const close of [() => service.close(), () => generations.close(), () => next?.close(), () => vector.close(), () => relational.close(), () => embeddings.close()]) {
      await Promise.resolve()
        .then(close)
        .catch((e) => process.stderr.write(`switchyard: while closing: ${e instanceof Error ? e.message : e}\n`));
    }
  }
}

/** Runs the CLI and exits with its status (used by bin/switchyard.js). */
export function run(): void {
  main().then(
    (code) => process.exit(code),
    (e) => {
      const msg = e instanceof ConfigError ? e.message : e instanceof SwitchyardError ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e);
      process.stderr.write(`switchyard: ${msg}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) run();
