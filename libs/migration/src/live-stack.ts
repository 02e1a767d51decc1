import type { ChangeCapture } from '@switchyard/relational-db';
import type { LiveProgress } from './migration.types';
import type { LiveJob, LiveReject, LiveSync } from './live-sync';
import type { VectorLiveSync } from './live-vectors';
import { CatchUp } from './live-rounds';

const FREEZE_BELOW = 200;
/**
 * After the freeze, before the last vectors are read: a KnowledgeService write that changed its
 * document's row before the freeze may still be writing chunks (its next row change is refused). On
 * PostgreSQL the document lock waits for it anyway; SQLite's lock is per process, so this covers the
 * writers of other processes (embedding happens before a write begins; what is left is milliseconds).
 */
const IN_FLIGHT_MS = 500;

/**
 * The live part of a FULL_STACK job: one capture on the source's relational database with both sets of
 * triggers (every table's rows; the documents again, keyed by (user, document), for their vectors), one
 * catch-up of both, and one freeze: the database's own (every write of the source app changes a row
 * first, so a frozen database stops its vector writes too).
 */
export class StackLiveSync implements LiveJob {
  /** Rounds, backlog, freeze: the job's own (each half reports what it applied). */
  private readonly progress = { rounds: 0, backlog: 0, frozen: false, freezeMs: null as number | null };
  private readonly clock = new CatchUp(this.progress);

  constructor(
    private readonly capture: ChangeCapture,
    private readonly rows: LiveSync,
    private readonly vectors: VectorLiveSync,
    private readonly jobId: string,
  ) {}

  get report(): LiveProgress {
    const r = this.rows.report;
    return {
      ...this.progress,
      applied: r.applied + this.vectors.report.applied,
      ...(r.resolvedRejects ? { resolvedRejects: r.resolvedRejects } : {}),
    };
  }

  install(): Promise<void> {
    return this.capture.install();
  }

  catchUp(check: () => Promise<void>, report: (phase: 'catch-up' | 'freeze') => Promise<void>, reject: (r: LiveReject[]) => Promise<void>): Promise<void> {
    let rows = 0;
    let vectors = 0;
    return this.clock.run(
      {
        freezeBelow: FREEZE_BELOW,
        frozen: () => this.capture.frozen(),
        backlog: async () => {
          [rows, vectors] = [await this.rows.backlog(), await this.vectors.backlog()];
          return rows + vectors;
        },
        // Rows first: a document's vectors are checked against its row at the end.
        round: async () => {
          await this.rows.drain(rows, check);
          await this.vectors.drain(vectors, check, reject);
        },
        freeze: () => this.capture.freeze(this.jobId),
        last: async () => {
          await this.rows.drain(Infinity, check);
          await new Promise((r) => setTimeout(r, IN_FLIGHT_MS));
          await this.vectors.settle(check, reject);
          this.progress.backlog = await this.rows.backlog();
        },
      },
      check,
      report,
    );
  }

  async retryRejected(rejected: Map<string, Set<string>>): Promise<Map<string, Set<string>>> {
    const out = await this.rows.retryRejected(rejected);
    for (const [step, ids] of await this.vectors.retryRejected(rejected)) out.set(step, ids);
    return out;
  }

  async cutOver(): Promise<void> {
    this.clock.stopClock();
    await this.capture.remove(true);
  }

  async abort(): Promise<void> {
    await this.capture.unfreeze();
  }

  capturing(): Promise<boolean> {
    return this.capture.installedByMe();
  }
}
