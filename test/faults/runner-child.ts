/**
 * A migration runner in its own process, driven by the fault harness over stdin/stdout (protocol.ts).
 * It loads everything at once and says `ready`, so the harness can start several of them ahead of time
 * and make them act at the same moment. It wraps the target's RelationalDb / VectorDb to report the
 * phase of the job before each call that writes or reads the target, so the harness can SIGKILL it
 * inside a chosen phase. It exits when its stdin closes (the harness died).
 *
 * Started by runner.ts from a transpiled copy (build-child.ts); by hand:
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register test/faults/runner-child.ts
 */
import * as readline from 'node:readline';
import { errorMessage, SwitchyardError } from '@switchyard/core';
import { createRelationalDb, DATA_ENTITIES, MigrationCheckpointEntity, RelationalDb } from '@switchyard/relational-db';
import { createVectorDb, VectorDb } from '@switchyard/vector-db';
import { MigrationJob, MigrationService, StartMigrationInput } from '@switchyard/migration';
import type { ChildEvent, JobSummary, Phase, Request, RunnerConfig } from './protocol';

const send = (e: ChildEvent) => void process.stdout.write(`${JSON.stringify(e)}\n`);

/** Phase bookkeeping of this process (a resumed job starts a new process). */
class PhaseTracker {
  private readonly counts = new Map<Phase, number>();
  private inside = 0;
  /** Whether a backup may still come: false once the target was emptied/written, or when resuming a job that has checkpoints. */
  backupPossible = true;

  emit(phase: Phase, call: string): void {
    if (this.inside > 0) return; // a call made by a wrapped call (reset() creating the index...)
    const n = (this.counts.get(phase) ?? 0) + 1;
    this.counts.set(phase, n);
    send({ ev: 'phase', phase, call, n });
  }

  /** Wraps an async method of `obj`: reports `before` (phase) on entry, `after` when it returned. */
  wrap<T extends object>(obj: T, method: keyof T & string, label: string, before: (...args: unknown[]) => Phase | null, after?: Phase) {
    const original = (obj[method] as (...a: unknown[]) => Promise<unknown>).bind(obj);
    (obj as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const phase = before(...args);
      if (phase) this.emit(phase, label);
      this.inside++;
      try {
        return await original(...args);
      } finally {
        this.inside--;
        if (phase && after) this.emit(after, `${label}:done`);
      }
    };
  }

  /** Wraps an async generator method: reports on the call. */
  wrapGenerator<T extends object>(obj: T, method: keyof T & string, label: string, phaseOf: (...args: unknown[]) => Phase | null) {
    const original = (obj[method] as (...a: unknown[]) => AsyncGenerator<unknown>).bind(obj);
    (obj as Record<string, unknown>)[method] = (...args: unknown[]) => {
      const phase = this.inside > 0 ? null : phaseOf(...args);
      if (phase) this.emit(phase, label);
      return original(...args);
    };
  }
}

function instrument(rel: RelationalDb, vec: VectorDb, t: PhaseTracker): void {
  const isData = (entity: unknown) => (DATA_ENTITIES as readonly unknown[]).includes(entity);
  const destructive = (p: Phase) => () => {
    t.backupPossible = false;
    return p;
  };
  t.wrap(rel, 'snapshotTable', 'relational.snapshotTable', () => 'backup');
  t.wrap(rel, 'truncate', 'relational.truncate', (e) => (isData(e) ? destructive('truncate')() : null));
  t.wrap(rel, 'insertRows', 'relational.insertRows', (e) => (isData(e) ? destructive('copy')() : null), 'checkpoint');
  // full reads of the target: a backup's checksum before anything was emptied or written, else verification
  t.wrapGenerator(rel, 'pages', 'relational.pages', (e) => (isData(e) ? (t.backupPossible ? 'backup' : 'verify') : null));
  t.wrapGenerator(vec, 'scan', 'vector.scan', () => (t.backupPossible ? 'backup' : 'verify'));
  t.wrap(vec, 'reset', 'vector.reset', destructive('truncate'));
  t.wrap(vec, 'prepareBulkLoad', 'vector.prepareBulkLoad', destructive('copy'));
  t.wrap(vec, 'upsert', 'vector.upsert', destructive('copy'), 'checkpoint');
  t.wrap(vec, 'finishBulkLoad', 'vector.finishBulkLoad', destructive('index'));
}

function summary(j: MigrationJob): JobSummary {
  return {
    id: j.id,
    status: j.status,
    errorCode: j.errorCode,
    error: j.error,
    verificationOk: j.verification ? j.verification.ok : null,
    backups: (j.backups ?? []).map((b) => ({ step: b.step, kind: b.kind, name: b.name, rows: b.rows })),
  };
}

class Runner {
  private rel?: RelationalDb;
  private vec?: VectorDb;
  private svc?: MigrationService;
  private readonly phases = new PhaseTracker();

  async open(cfg: RunnerConfig): Promise<void> {
    this.rel = createRelationalDb(cfg.target.relational);
    await this.rel.init();
    this.vec = createVectorDb(cfg.target.vector, cfg.target.model);
    await this.vec.init();
    instrument(this.rel, this.vec, this.phases);
    const logger = {
      log: (message: string) => send({ ev: 'log', level: 'log', message }),
      warn: (message: string) => send({ ev: 'log', level: 'warn', message }),
      error: (message: string) => send({ ev: 'log', level: 'error', message }),
    };
    this.svc = new MigrationService({ target: { relational: this.rel, vector: this.vec }, profiles: cfg.profiles, dataDir: cfg.dataDir, defaultBatchSize: cfg.defaultBatchSize, staleAfterMs: cfg.staleAfterMs, logger });
  }

  private get service(): MigrationService {
    if (!this.svc) throw new SwitchyardError('MIGRATION_STATE', 'runner not opened');
    return this.svc;
  }

  /** Starts or resumes; replies at once, then reports the job when it is no longer running here. */
  async launch(seq: number, op: () => Promise<MigrationJob>): Promise<void> {
    let job: MigrationJob;
    try {
      job = await op();
    } catch (e) {
      const code = e instanceof SwitchyardError ? e.code : 'INTERNAL';
      const jobId = e instanceof SwitchyardError && typeof e.details.jobId === 'string' ? e.details.jobId : undefined;
      send({ ev: 'reply', seq, ok: false, code, message: errorMessage(e), jobId });
      return;
    }
    send({ ev: 'reply', seq, ok: true, jobId: job.id });
    void this.service.waitFor(job.id).then(
      (done) => send({ ev: 'finished', job: summary(done) }),
      (e) => send({ ev: 'log', level: 'error', message: `waitFor failed: ${errorMessage(e)}` }),
    );
  }

  start(seq: number, input: StartMigrationInput): Promise<void> {
    return this.launch(seq, () => this.service.start(input));
  }

  async resume(seq: number, id: string): Promise<void> {
    const cps = await this.rel!.repository(MigrationCheckpointEntity).count({ where: { jobId: id } });
    this.phases.backupPossible = cps === 0;
    await this.launch(seq, () => this.service.resume(id));
  }

  async close(): Promise<void> {
    await this.svc?.close();
    await this.vec?.close();
    await this.rel?.close();
  }
}

async function main(): Promise<void> {
  const runner = new Runner();
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('close', () => process.exit(1)); // the harness is gone: stop at once, like a crash
  send({ ev: 'ready' });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as Request;
    try {
      switch (req.op) {
        case 'open':
          await runner.open(req.config);
          send({ ev: 'reply', seq: req.seq, ok: true });
          break;
        case 'start':
          await runner.start(req.seq, req.input);
          break;
        case 'resume':
          await runner.resume(req.seq, req.id);
          break;
        case 'close':
          await runner.close();
          send({ ev: 'reply', seq: req.seq, ok: true });
          process.exit(0);
      }
    } catch (e) {
      send({ ev: 'reply', seq: req.seq, ok: false, code: e instanceof SwitchyardError ? e.code : 'INTERNAL', message: errorMessage(e) });
    }
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
