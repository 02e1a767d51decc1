import { CapturedChange, ChangeCapture, ColumnRow } from '@switchyard/relational-db';
import type { RelationalTable } from './datasets';
import type { LiveProgress } from './migration.types';

/** Catch-up rounds before the freeze, at most (a source written faster than it can be copied is frozen anyway). */
const MAX_ROUNDS = 10;
/** Freeze once the backlog is this small (it is then copied during the freeze). */
const FREEZE_BELOW = 200;
const PAGE = 1000;

/** One table of a live job: where its rows are read again from, and where they go. */
export interface LiveTable {
  name: string;
  source: RelationalTable;
  target: RelationalTable;
}

/**
 * The live part of a RELATIONAL job, around the bulk copy: change capture on the source (installed
 * before the copy), catch-up rounds that copy the rows whose keys changed until the backlog is small,
 * the write freeze, the last delta; after a verified cutover the capture goes and the freeze stays (the
 * old store must take no more writes); after a failure both go and the source takes writes again.
 */
export class LiveSync {
  private freezeStarted: number | null = null;
  readonly report: LiveProgress = { rounds: 0, applied: 0, backlog: 0, frozen: false, freezeMs: null };

  constructor(
    private readonly capture: ChangeCapture,
    /** In copy order (parents first). */
    private readonly tables: LiveTable[],
    private readonly jobId: string,
  ) {}

  install(): Promise<void> {
    return this.capture.install();
  }

  /**
   * Catch-up rounds, then the freeze and the last delta. `check` stops a cancelled or taken-over run
   * between batches; `report` publishes progress.
   */
  async catchUp(check: () => Promise<void>, report: (phase: 'catch-up' | 'freeze') => Promise<void>): Promise<void> {
    this.report.frozen = await this.capture.frozen();
    while (!this.report.frozen) {
      await check();
      this.report.backlog = await this.capture.backlog();
      if (this.report.backlog <= FREEZE_BELOW || this.report.rounds >= MAX_ROUNDS) break;
      this.report.rounds++;
      await this.drain(this.report.backlog, check);
      await report('catch-up');
    }
    await check();
    if (!this.report.frozen) {
      this.freezeStarted = Date.now();
      await this.capture.freeze(this.jobId);
      this.report.frozen = true;
    } else this.freezeStarted ??= Date.now(); // resumed while frozen: counted from now
    await report('freeze');
    await this.drain(Infinity, check);
    this.report.backlog = await this.capture.backlog();
  }

  /**
   * Rows set aside during the bulk copy whose reason may have passed since (mostly: a document whose new
   * user had not been copied yet, both caught up since): read again from the frozen source and written if
   * they pass the target's checks now. Returns the ids that are in the target now, per table; the rest
   * stay rejected.
   */
  async retryRejected(rejected: Map<string, Set<string>>): Promise<Map<string, Set<string>>> {
    const resolved = new Map<string, Set<string>>();
    for (const t of this.tables) {
      const ids = [...(rejected.get(t.name) ?? [])];
      if (!ids.length) continue;
      const rows = await t.source.io.fetch(ids);
      const valid = rows.filter((r) => t.target.validate(r) === null);
      const screened = await t.target.screen(valid);
      const ok = valid.filter((_, i) => !screened.has(i));
      if (ok.length) await t.target.io.write(ok, 'overwrite');
      const present = new Set(rows.map((r) => t.source.idOf(r)));
      // A rejected row the source no longer has is not expected in the target either.
      resolved.set(t.name, new Set([...ok.map((r) => t.source.idOf(r)), ...ids.filter((id) => !present.has(id))]));
      this.report.resolvedRejects = (this.report.resolvedRejects ?? 0) + ok.length;
    }
    return resolved;
  }

  /** After verification passed: the capture goes, the freeze stays; the freeze's length is recorded. */
  async cutOver(): Promise<void> {
    this.report.freezeMs = this.freezeStarted === null ? null : Date.now() - this.freezeStarted;
    await this.capture.remove(true);
  }

  /**
   * After a failure or cancel: the source takes writes again, without triggers. `keepCapturing` (the
   * app shuts down; the job resumes later): the triggers stay, so nothing written meanwhile is missed.
   */
  async abort(keepCapturing: boolean): Promise<void> {
    await this.capture.unfreeze();
    if (!keepCapturing) await this.capture.remove(false);
  }

  /** Applies up to `limit` captured changes (all there are when Infinity), a page at a time. */
  private async drain(limit: number, check: () => Promise<void>): Promise<void> {
    let done = 0;
    while (done < limit) {
      await check();
      const changes = await this.capture.pending(Math.min(PAGE, limit - done));
      if (!changes.length) return;
      await this.apply(changes);
      await this.capture.consumed(changes);
      done += changes.length;
      this.report.applied += changes.length;
    }
  }

  /**
   * Copies the current source state of every changed key: rows that exist are upserted, parents first;
   * keys whose row is gone are deleted from the target, children first.
   */
  private async apply(changes: CapturedChange[]): Promise<void> {
    const byTable = new Map<string, Map<string, unknown[]>>();
    for (const c of changes) {
      const keys = byTable.get(c.table) ?? new Map<string, unknown[]>();
      keys.set(JSON.stringify(c.key), c.key);
      byTable.set(c.table, keys);
    }
    const gone: { table: LiveTable; keys: unknown[][] }[] = [];
    for (const t of this.tables) {
      const keys = byTable.get(t.name);
      if (!keys) continue;
      const wanted = [...keys.values()];
      const rows: ColumnRow[] = await t.source.io.lookup(t.source.io.key, wanted);
      const present = new Set(rows.map((r) => t.source.idOf(r)));
      if (rows.length) await t.target.io.write(rows, 'overwrite');
      const missing = wanted.filter((k) => !present.has(t.source.io.key.length === 1 ? String(k[0]) : JSON.stringify(k)));
      if (missing.length) gone.push({ table: t, keys: missing });
    }
    for (const g of gone.reverse()) await g.table.target.io.deleteKeys(g.keys);
  }
}
