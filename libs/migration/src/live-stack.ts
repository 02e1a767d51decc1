import type { ChangeCapture } from '@switchyard/relational-db';
import type { LiveProgress } from './migration.types';
import type { LiveJob, LiveReject, LiveSync } from './live-sync';
import type { VectorLiveSync } from './live-vectors';

const MAX_ROUNDS = 10;
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
  private freezeStarted: number | null = null;
  private rounds = 0;

  constructor(
    private readonly capture: ChangeCapture,
    private readonly rows: LiveSync,
    private readonly vectors: VectorLiveSync,
    private readonly jobId: string,
  ) {}

  get report(): LiveProgress {
    const r = this.rows.report;
    const v = this.vectors.report;
    return {
      rounds: this.rounds,
      applied: r.applied + v.applied,
      backlog: r.backlog + v.backlog,
      frozen: r.frozen,
      freezeMs: r.freezeMs,
      ...(r.resolvedRejects ? { resolvedRejects: r.resolvedRejects } : {}),
    };
  }

  install(): Promise<void> {
    return this.capture.install();
  }

  async catchUp(check: () => Promise<void>, report: (phase: 'catch-up' | 'freeze') => Promise<void>, reject: (r: LiveReject[]) => Promise<void>): Promise<void> {
    this.rows.report.frozen = await this.capture.frozen();
    while (!this.rows.report.frozen) {
      await check();
      this.rows.report.backlog = await this.rows.backlog();
      this.vectors.report.backlog = await this.vectors.backlog();
      if (this.rows.report.backlog + this.vectors.report.backlog <= FREEZE_BELOW || this.rounds >= MAX_ROUNDS) break;
      this.rounds++;
      // Rows first: a document's vectors are checked against its row at the end.
      await this.rows.drain(this.rows.report.backlog, check);
      await this.vectors.drain(this.vectors.report.backlog, check, reject);
      await report('catch-up');
    }
    await check();
    if (!this.rows.report.frozen) {
      this.freezeStarted = Date.now();
      await this.capture.freeze(this.jobId);
      this.rows.report.frozen = true;
    } else this.freezeStarted ??= Date.now();
    await report('freeze');
    await this.rows.drain(Infinity, check);
    await new Promise((r) => setTimeout(r, IN_FLIGHT_MS));
    await this.vectors.settle(check, reject);
    this.rows.report.backlog = await this.rows.backlog();
  }

  async retryRejected(rejected: Map<string, Set<string>>): Promise<Map<string, Set<string>>> {
    const out = await this.rows.retryRejected(rejected);
    for (const [step, ids] of await this.vectors.retryRejected(rejected)) out.set(step, ids);
    return out;
  }

  async cutOver(): Promise<void> {
    this.rows.report.freezeMs = this.freezeStarted === null ? null : Date.now() - this.freezeStarted;
    await this.capture.remove(true);
  }

  async abort(keepCapturing: boolean): Promise<void> {
    await this.capture.unfreeze();
    if (!keepCapturing) await this.capture.remove(false);
  }
}
