import { CapturedChange, ChangeCapture, ColumnRow, kindOf } from '@switchyard/relational-db';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { RelationalTable } from './datasets';
import type { LiveProgress } from './migration.types';
import { CatchUp } from './live-rounds';

/** Freeze once the backlog is this small (it is then copied during the freeze). */
const FREEZE_BELOW = 200;
const PAGE = 1000;

/** A record a live job's catch-up set aside, for the reject file. */
export interface LiveReject {
  step: string;
  id: string;
  reason: string;
  record: unknown;
}

/** The live part of a job (RELATIONAL: LiveSync; VECTORS: VectorLiveSync), as the copier drives it. */
export interface LiveJob {
  readonly report: LiveProgress;
  /** Change capture on the source, before the bulk copy (idempotent: a resumed run calls it again). */
  install(): Promise<void>;
  /** Catch-up rounds, the freeze, the last delta. */
  catchUp(check: () => Promise<void>, report: (phase: 'catch-up' | 'freeze') => Promise<void>, reject: (r: LiveReject[]) => Promise<void>): Promise<void>;
  /** Of the records set aside so far (per step), those settled now (in the target, or gone from the source). */
  retryRejected(rejected: Map<string, Set<string>>): Promise<Map<string, Set<string>>>;
  /** After verification passed: the capture goes, the freeze stays. */
  cutOver(): Promise<void>;
  /**
   * After a failure, a cancel or a shutdown: the source takes writes again (the freeze goes) and the
   * capture stays, so a resumed run misses nothing written meanwhile. It goes at the cutover, or with
   * `unfreeze` (the job then has to start over: see capturing()).
   */
  abort(): Promise<void>;
  /** Whether this job's capture is still installed on the source (a resumed run's checkpoints hold only then). */
  capturing(): Promise<boolean>;
}

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
export class LiveSync implements LiveJob {
  readonly report: LiveProgress = { rounds: 0, applied: 0, backlog: 0, frozen: false, freezeMs: null };
  private readonly clock = new CatchUp(this.report);
  private readonly names: string[];

  constructor(
    private readonly capture: ChangeCapture,
    /** In copy order (parents first). */
    private readonly tables: LiveTable[],
    private readonly jobId: string,
  ) {
    this.names = tables.map((t) => t.name);
  }

  /** Changes of this job's tables waiting to be applied. */
  backlog(): Promise<number> {
    return this.capture.backlog(this.names);
  }

  install(): Promise<void> {
    return this.capture.install();
  }

  /**
   * Catch-up rounds, then the freeze and the last delta. `check` stops a cancelled or taken-over run
   * between batches; `report` publishes progress.
   */
  catchUp(check: () => Promise<void>, report: (phase: 'catch-up' | 'freeze') => Promise<void>): Promise<void> {
    return this.clock.run(
      {
        freezeBelow: FREEZE_BELOW,
        frozen: () => this.capture.frozen(),
        backlog: () => this.backlog(),
        round: (n) => this.drain(n, check),
        freeze: () => this.capture.freeze(this.jobId),
        last: async () => {
          await this.drain(Infinity, check);
          this.report.backlog = await this.backlog();
        },
      },
      check,
      report,
    );
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
    this.clock.stopClock();
    await this.capture.remove(true);
  }

  async abort(): Promise<void> {
    await this.capture.unfreeze();
  }

  capturing(): Promise<boolean> {
    return this.capture.installedByMe();
  }

  /**
   * Applies up to `limit` captured changes (all there are when Infinity), a page at a time. Changes whose
   * row cannot be written yet (its parent is not in the target: it changed later, in a page still to come)
   * stay in the log for the next pass; before the freeze that is the next round, during it the passes go
   * on while they make progress (the frozen source is consistent, so every parent comes).
   */
  async drain(limit: number, check: () => Promise<void>): Promise<void> {
    for (;;) {
      let seen = 0;
      let applied = 0;
      let after = 0;
      while (seen < limit) {
        await check();
        const changes = await this.capture.pending(Math.min(PAGE, limit - seen), after, this.names);
        if (!changes.length) break;
        after = changes[changes.length - 1].seq;
        seen += changes.length;
        // Changes of the same keys logged so far are covered by this copy too: their rows are read after
        // this (a key changed a hundred times is copied once), except where a row is held back.
        const others = await this.capture.sameKeys(changes);
        const done = await this.apply(changes);
        const doneKeys = new Set(done.map((c) => `${c.table}\0${c.pk}`));
        const covered = others.filter((c) => doneKeys.has(`${c.table}\0${c.pk}`));
        await this.capture.consumed([...done, ...covered]);
        applied += done.length + covered.length;
        this.report.applied += done.length + covered.length;
      }
      if (limit !== Infinity || applied === 0 || (await this.backlog()) === 0) return;
    }
  }

  /**
   * Copies the current source state of every changed key: rows that exist and pass the target's checks
   * are upserted, parents first; keys whose row is gone are deleted from the target, children first.
   * Returns the changes that were applied (a row held back keeps its changes in the log).
   */
  private async apply(changes: CapturedChange[]): Promise<CapturedChange[]> {
    const byTable = new Map<string, Map<string, string[]>>();
    for (const c of changes) {
      const keys = byTable.get(c.table) ?? new Map<string, string[]>();
      keys.set(JSON.stringify(c.key), c.key);
      byTable.set(c.table, keys);
    }
    const held = new Set<string>();
    const gone: { table: LiveTable; keys: unknown[][] }[] = [];
    for (const t of this.tables) {
      const keys = byTable.get(t.name);
      if (!keys) continue;
      const io = t.source.io;
      const wanted = [...keys.values()];
      const rows: ColumnRow[] = await io.lookup(io.key, wanted);
      const keyOf = (r: ColumnRow) => JSON.stringify(io.key.map((k) => keyText(k, r[k.databaseName])));
      const found = new Set(rows.map(keyOf));
      const valid = rows.filter((r) => t.target.validate(r) === null);
      const screened = await t.target.screenWhole(valid);
      const ok = valid.filter((_, i) => !screened.has(i));
      const written = new Set(ok);
      for (const r of rows) if (!written.has(r)) held.add(`${t.name}\0${keyOf(r)}`);
      if (ok.length) await t.target.io.write(ok, 'overwrite');
      const missing = wanted.filter((k) => !found.has(JSON.stringify(io.key.map((c, i) => keyText(c, k[i])))));
      if (missing.length) gone.push({ table: t, keys: missing });
    }
    for (const g of gone.reverse()) await g.table.target.io.deleteKeys(g.keys);
    return changes.filter((c) => {
      const t = this.tables.find((x) => x.name === c.table);
      return !t || !held.has(`${c.table}\0${JSON.stringify(t.source.io.key.map((k, i) => keyText(k, c.key[i])))}`);
    });
  }
}

/** A key part as one text, whether it comes from a row (a number, a Date) or from the change log (the database's text). */
function keyText(c: ColumnMetadata, v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string' && kindOf(c) === 'instant') {
    const d = new Date(v.includes('T') || v.includes('+') || v.endsWith('Z') ? v : `${v.replace(' ', 'T')}Z`);
    return Number.isNaN(d.getTime()) ? v : d.toISOString();
  }
  return String(v);
}
