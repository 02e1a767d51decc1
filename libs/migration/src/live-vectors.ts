import { CapturedChange, ChangeCapture, DocumentsRepository, RelationalDb, VectorFreezeRepository } from '@switchyard/relational-db';
import { SwitchyardError } from '@switchyard/core';
import type { VectorDb, VectorRecord } from '@switchyard/vector-db';
import type { LiveProgress } from './migration.types';
import type { LiveJob, LiveReject } from './live-sync';
import { CatchUp } from './live-rounds';
import { VectorCollection } from './vector-collection';

/** Freeze once this few documents wait (they are then copied during the freeze). */
const FREEZE_BELOW = 100;
const PAGE = 1000;
/**
 * After the freeze, the log must stay empty this long before the last delta is taken as complete: a
 * write that passed the freeze check just before the freeze records its document again when it ends
 * (PostgreSQL: the document lock also waits for it; SQLite's lock is per process, so this covers the
 * writers of other processes).
 */
const SETTLE_MS = 500;
/** The last delta gives up after this long without a quiet moment (something keeps writing documents rows). */
const SETTLE_LIMIT_MS = 120_000;

/**
 * The live part of a VECTORS job. Changes are captured where the app records them: every write of a
 * document (index, re-index, delete) changes the document's row before any chunk and again after the
 * last one, so triggers on the source's `documents` table, keyed by (user, document), name every
 * document whose chunks changed. Catch-up copies each such document whole (its chunks are read from the
 * source under the document's lock and replace the target's), until few are left; then the source vector
 * store is frozen (a row in `<prefix>vector_freeze` the app checks before writing chunks: instances on
 * the old store answer MAINTENANCE; the new store carries its own freeze from the start to the cutover),
 * the last documents are copied, and after a verified cutover the old store's freeze stays.
 */
export class VectorLiveSync implements LiveJob {
  readonly report: LiveProgress = { rounds: 0, applied: 0, backlog: 0, frozen: false, freezeMs: null };
  private readonly clock = new CatchUp(this.report);
  private readonly locks: DocumentsRepository;
  private readonly freezes: VectorFreezeRepository;
  private readonly codec: VectorCollection;

  constructor(
    private readonly capture: ChangeCapture,
    /** A writable handle on the source's relational database (where the capture and the freeze live). */
    writer: RelationalDb,
    private readonly source: VectorDb,
    private readonly target: VectorDb,
    /** The source vector store's identity: what the app compares its own store with. */
    private readonly store: string,
    private readonly step: string,
    private readonly jobId: string,
    /** The capture's name for the documents' changes (a whole-stack job captures the same table twice: rows and vectors). */
    private readonly logName = 'documents',
    /**
     * The target store's freeze until the cutover, where the app instances on the new store look (a
     * VECTORS job: the catch-up replaces changed documents in the target with the source's, so a write
     * there before the cutover would be lost; they answer MAINTENANCE until then).
     */
    private readonly targetFreeze: { freezes: VectorFreezeRepository; store: string } | null = null,
  ) {
    this.locks = new DocumentsRepository(writer);
    this.freezes = new VectorFreezeRepository(writer);
    this.codec = new VectorCollection(source);
  }

  async install(): Promise<void> {
    await this.capture.install();
    await this.targetFreeze?.freezes.freeze(this.targetFreeze.store, this.jobId);
  }

  catchUp(check: () => Promise<void>, report: (phase: 'catch-up' | 'freeze') => Promise<void>, reject: (r: LiveReject[]) => Promise<void>): Promise<void> {
    return this.clock.run(
      {
        freezeBelow: FREEZE_BELOW,
        frozen: () => this.freezes.isFrozen(this.store),
        backlog: () => this.backlog(),
        round: (n) => this.drain(n, check, reject),
        freeze: () => this.freezes.freeze(this.store, this.jobId),
        last: () => this.settle(check, reject),
      },
      check,
      report,
    );
  }

  /** Changes of documents' vectors waiting to be copied. */
  backlog(): Promise<number> {
    return this.capture.backlog([this.logName]);
  }

  /**
   * The last delta, once frozen: until the log has stayed empty for SETTLE_MS (a write that passed the
   * freeze check just before the freeze records its document again when it ends).
   */
  async settle(check: () => Promise<void>, reject: (r: LiveReject[]) => Promise<void>): Promise<void> {
    const started = Date.now();
    let quietSince = started;
    for (;;) {
      await this.drain(Infinity, check, reject);
      if (Date.now() - started > SETTLE_LIMIT_MS) {
        throw new SwitchyardError(
          'MIGRATION_STATE',
          `documents kept changing for ${SETTLE_LIMIT_MS / 1000} s after the vector store was frozen: something other than this version's KnowledgeService on the old store writes document rows (another app version, host code, a REINDEX). Stop it and resume the job.`,
        );
      }
      if ((await this.backlog()) > 0) quietSince = Date.now();
      else if (Date.now() - quietSince >= SETTLE_MS) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    this.report.backlog = 0;
  }

  /**
   * Records set aside by the bulk copy (for what they are, never for a missing parent) that are settled
   * now: in the target (the source fixed them and the catch-up copied them) or gone from the source.
   */
  async retryRejected(rejected: Map<string, Set<string>>): Promise<Map<string, Set<string>>> {
    const ids = [...(rejected.get(this.step) ?? [])];
    if (!ids.length) return new Map();
    const inTarget = await this.target.existingIds(ids);
    const inSource = new Set(await this.source.existingIds(ids));
    return new Map([[this.step, new Set([...inTarget, ...ids.filter((id) => !inSource.has(id))])]]);
  }

  async cutOver(): Promise<void> {
    this.clock.stopClock();
    await this.capture.remove(false);
    await this.targetFreeze?.freezes.unfreeze(this.targetFreeze.store, this.jobId);
  }

  /**
   * After a failure, a cancel or a shutdown: both stores take writes again (a resumed run freezes the
   * new one again before it copies on); the capture stays.
   */
  async abort(): Promise<void> {
    await this.freezes.unfreeze(this.store, this.jobId);
    await this.targetFreeze?.freezes.unfreeze(this.targetFreeze.store, this.jobId);
  }

  capturing(): Promise<boolean> {
    return this.capture.installedByMe();
  }

  async drain(limit: number, check: () => Promise<void>, reject: (r: LiveReject[]) => Promise<void>): Promise<void> {
    let seen = 0;
    while (seen < limit) {
      await check();
      const changes = await this.capture.pending(Math.min(PAGE, limit - seen), 0, [this.logName]);
      if (!changes.length) return;
      seen += changes.length;
      // The same documents' other changes logged so far are covered by the copy too (each document is
      // read under its lock after this).
      const others = await this.capture.sameKeys(changes);
      await this.apply(changes, reject);
      await this.capture.consumed([...changes, ...others]);
      this.report.applied += changes.length + others.length;
    }
  }

  /** Copies each changed document whole: the source's chunks of it replace the target's. */
  private async apply(changes: CapturedChange[], reject: (r: LiveReject[]) => Promise<void>): Promise<void> {
    const docs = new Map<string, [string, string]>();
    for (const c of changes) docs.set(JSON.stringify(c.key), [c.key[0], c.key[1]]);
    for (const [userId, documentId] of docs.values()) {
      const records = await this.locks.withDocumentLock(userId, documentId, () => this.source.documentRecords(userId, documentId));
      const bad: LiveReject[] = [];
      const good: VectorRecord[] = [];
      for (const r of records) {
        const why = this.problem(r);
        if (why) bad.push({ step: this.step, id: r.id, reason: why, record: this.codec.encode(r) });
        else good.push(r);
      }
      await this.target.deleteByDocument(userId, documentId);
      await this.target.upsert(good);
      if (bad.length) await reject(bad);
    }
  }

  private problem(r: VectorRecord): string | null {
    try {
      this.target.validate([r]);
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }
}
