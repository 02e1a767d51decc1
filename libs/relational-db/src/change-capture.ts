import { createHash } from 'node:crypto';
import { fitIdentifier, SwitchyardError } from '@switchyard/core';
import type { EntityMetadata } from 'typeorm';
import type { RelationalDb } from './relational-db.port';
import { TableIo } from './table-io';

/** One captured change: which table (by dataset name) and which primary key (its parts as the database prints them); the row itself is read again when applied. */
export interface CapturedChange {
  seq: number;
  table: string;
  key: string[];
  /** The key as the log holds it (the database's JSON text): equal for every change of one key. */
  pk: string;
}

/** The message every write refused by a freeze carries (the app maps it to MAINTENANCE). */
/** How long the freeze waits for transactions that are writing when it starts. */
const FREEZE_LOCK_WAIT_MS = 30_000;

export const FREEZE_MESSAGE = 'MAINTENANCE: this database is frozen for a migration cutover; writes are refused until it ends';

/**
 * Change capture on a migration source, installed with the operator's consent (a live job) and removed at
 * the end: per table, triggers that record the primary key of every inserted, updated or deleted row in
 * `<prefix>change_log` (an update that changes the key records both keys), and refuse every write while
 * `<prefix>freeze` holds a row (the write freeze of a cutover, enforced by the database itself, so every
 * writer honours it: this app, another instance, the host's own code, a psql session).
 *
 * Changes are consumed by deleting them once applied (not by a sequence cursor: on PostgreSQL a
 * transaction that commits late may carry a smaller sequence number than one already read).
 */
export class ChangeCapture {
  readonly logTable: string;
  readonly freezeTable: string;
  /** Which job's capture this is (one at a time per source database: two jobs would consume each other's changes). */
  readonly ownerTable: string;
  private readonly tables: { meta: EntityMetadata; name: string; io: TableIo; key: string[] }[];

  /**
   * @param tables per table: its entity, its dataset name, and (`key`) the columns a change is recorded
   *   by (database names; default: the primary key)
   */
  constructor(
    private readonly db: RelationalDb,
    tables: { meta: EntityMetadata; name: string; key?: string[] }[],
    /** The job installing it (null: a handle that only ends a freeze or removes a left-over capture). */
    private readonly jobId: string | null = null,
  ) {
    if (db.readOnly) throw new SwitchyardError('INTERNAL', 'change capture needs a writable handle on the source');
    this.logTable = `${db.tablePrefix}change_log`;
    this.freezeTable = `${db.tablePrefix}freeze`;
    this.ownerTable = `${db.tablePrefix}change_capture`;
    this.tables = tables.map((t) => {
      const io = new TableIo(db, t.meta);
      return { ...t, io, key: t.key ?? io.key.map((k) => k.databaseName) };
    });
  }

  private get pg(): boolean {
    return this.db.provider === 'postgres';
  }

  private e(n: string): string {
    return this.db.dataSource.driver.escape(n);
  }

  private q(sql: string, params: unknown[] = []): Promise<unknown> {
    return this.db.dataSource.query(sql, params);
  }

  /** A trigger (or function) name for a table: distinct per table, at most 63 bytes. */
  /** The log's (tbl, pk) index: changes of one key found without a scan (sameKeys). */
  private get keyIndex(): string {
    return fitIdentifier(`${this.logTable}_key`);
  }

  private name(kind: string, table: string): string {
    return fitIdentifier(`sy_cc_${kind}_${createHash('sha256').update(table).digest('hex').slice(0, 10)}`);
  }

  private literal(s: string): string {
    return `'${s.replace(/'/g, "''")}'`;
  }

  /** The job whose capture is installed on this database, or null. */
  async owner(): Promise<string | null> {
    if (!(await this.hasTable(this.ownerTable))) return null;
    const [r] = (await this.q(`SELECT job_id FROM ${this.e(this.ownerTable)} WHERE id = 1`)) as { job_id: string }[];
    return r?.job_id ?? null;
  }

  /** Whether this job's capture is the one installed (false once `unfreeze` removed it, or before install()). */
  async installedByMe(): Promise<boolean> {
    return this.jobId !== null && (await this.owner()) === this.jobId;
  }

  /**
   * Claims the database for this job's capture; refused (MIGRATION_LOCKED) while another job's capture
   * is installed: both would consume the same log, and each would miss the other's changes.
   */
  private async claim(): Promise<void> {
    if (!this.jobId) throw new SwitchyardError('INTERNAL', 'a change capture is installed by a job');
    // Two jobs claiming at the same instant both run this: on PostgreSQL, IF NOT EXISTS does not keep the
    // second from failing on the first's row type ("already exists"); the table is there, which is all it needs.
    await this.q(`CREATE TABLE IF NOT EXISTS ${this.e(this.ownerTable)} (id integer PRIMARY KEY, job_id text NOT NULL)`).catch((e: unknown) => {
      if (!alreadyExists(e)) throw e;
    });
    await this.q(`INSERT INTO ${this.e(this.ownerTable)} (id, job_id) VALUES (1, ${this.pg ? '$1' : '?'}) ON CONFLICT (id) DO NOTHING`, [this.jobId]);
    const owner = await this.owner();
    if (owner !== this.jobId) throw this.locked(owner ?? '(unknown)');
  }

  /** Creates the log and freeze tables and every table's triggers (idempotent: a resumed job calls it again). */
  async install(): Promise<void> {
    await this.claim();
    if (this.pg) {
      await this.q(`CREATE TABLE IF NOT EXISTS ${this.e(this.logTable)} (seq bigserial PRIMARY KEY, tbl text NOT NULL, pk text NOT NULL)`);
      await this.q(`CREATE INDEX IF NOT EXISTS ${this.e(this.keyIndex)} ON ${this.e(this.logTable)} (tbl, pk)`);
      await this.q(`CREATE TABLE IF NOT EXISTS ${this.e(this.freezeTable)} (id integer PRIMARY KEY, job_id text, since timestamptz NOT NULL DEFAULT now())`);
      const fn = this.name('fn', this.logTable);
      // TG_ARGV[0] = dataset name, TG_ARGV[1..] = primary key columns
      await this.q(`CREATE OR REPLACE FUNCTION ${this.e(fn)}() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE r jsonb; k jsonb; k2 jsonb; i int;
BEGIN
  IF EXISTS (SELECT 1 FROM ${this.e(this.freezeTable)}) THEN RAISE EXCEPTION '${FREEZE_MESSAGE}' USING ERRCODE = '55000'; END IF;
  IF TG_OP <> 'INSERT' THEN
    r := to_jsonb(OLD); k := '[]'::jsonb;
    FOR i IN 1..TG_NARGS - 1 LOOP k := k || jsonb_build_array(r ->> TG_ARGV[i]); END LOOP;
    INSERT INTO ${this.e(this.logTable)} (tbl, pk) VALUES (TG_ARGV[0], k::text);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    r := to_jsonb(NEW); k2 := '[]'::jsonb;
    FOR i IN 1..TG_NARGS - 1 LOOP k2 := k2 || jsonb_build_array(r ->> TG_ARGV[i]); END LOOP;
    -- An update that keeps the key is one change of one key.
    IF k IS NULL OR k2 IS DISTINCT FROM k THEN INSERT INTO ${this.e(this.logTable)} (tbl, pk) VALUES (TG_ARGV[0], k2::text); END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $f$`);
      for (const t of this.tables) {
        const trg = this.name('trg', t.name);
        const args = [t.name, ...t.key].map((a) => this.literal(a)).join(', ');
        // Replaced in one statement (PostgreSQL 14+): a resumed job never leaves a moment without capture.
        await this.q(`CREATE OR REPLACE TRIGGER ${this.e(trg)} BEFORE INSERT OR UPDATE OR DELETE ON ${this.e(t.io.table)} FOR EACH ROW EXECUTE FUNCTION ${this.e(fn)}(${args})`);
      }
      return;
    }
    await this.q(`CREATE TABLE IF NOT EXISTS ${this.e(this.logTable)} (seq integer PRIMARY KEY AUTOINCREMENT, tbl text NOT NULL, pk text NOT NULL)`);
    await this.q(`CREATE INDEX IF NOT EXISTS ${this.e(this.keyIndex)} ON ${this.e(this.logTable)} (tbl, pk)`);
    await this.q(`CREATE TABLE IF NOT EXISTS ${this.e(this.freezeTable)} (id integer PRIMARY KEY, job_id text, since text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')))`);
    for (const t of this.tables) {
      // As text: a JSON number would lose the digits of a 64-bit key past 2^53.
      const key = (row: 'NEW' | 'OLD') => `json_array(${t.key.map((k) => `CAST(${row}.${this.e(k)} AS TEXT)`).join(', ')})`;
      const log = (row: 'NEW' | 'OLD') => `INSERT INTO ${this.e(this.logTable)} (tbl, pk) VALUES (${this.literal(t.name)}, ${key(row)});`;
      const refuse = `SELECT RAISE(ABORT, ${this.literal(FREEZE_MESSAGE)}) WHERE EXISTS (SELECT 1 FROM ${this.e(this.freezeTable)});`;
      const defs: [string, string, string][] = [
        ['ins', 'INSERT', `${refuse} ${log('NEW')}`],
        // An update that keeps the key is one change of one key.
        ['upd', 'UPDATE', `${refuse} ${log('OLD')} INSERT INTO ${this.e(this.logTable)} (tbl, pk) SELECT ${this.literal(t.name)}, ${key('NEW')} WHERE ${key('NEW')} IS NOT ${key('OLD')};`],
        ['del', 'DELETE', `${refuse} ${log('OLD')}`],
      ];
      for (const [kind, op, body] of defs) {
        // BEFORE: the freeze check must stop the write itself; the log row commits (or rolls back) with it.
        await this.q(`CREATE TRIGGER IF NOT EXISTS ${this.e(this.name(kind, t.name))} BEFORE ${op} ON ${this.e(t.io.table)} BEGIN ${body} END`);
      }
    }
  }

  /**
   * Removes every trigger, the function and the log table; the freeze table too unless `keepFreeze` (after
   * a cutover the old store stays frozen). A job's handle leaves another job's capture alone. Triggers are
   * found by name in the database, so those of a capture with other tables (a whole-stack job's second
   * set on documents) go too.
   */
  async remove(keepFreeze: boolean): Promise<void> {
    if (await this.ownedByOther()) return;
    // The refusing triggers first: at no moment may a frozen table have neither.
    if (keepFreeze) await this.installFreezeOnly();
    for (const t of await this.triggers()) if (!t.name.startsWith('sy_cc_frz')) await this.dropTrigger(t);
    if (this.pg) await this.q(`DROP FUNCTION IF EXISTS ${this.e(this.name('fn', this.logTable))}() CASCADE`);
    await this.q(`DROP TABLE IF EXISTS ${this.e(this.logTable)}`);
    if (!keepFreeze) await this.q(`DROP TABLE IF EXISTS ${this.e(this.freezeTable)}`);
    await this.q(`DROP TABLE IF EXISTS ${this.e(this.ownerTable)}`);
  }

  /** Whether another job's capture is installed (a job's handle then touches nothing). */
  private async ownedByOther(): Promise<boolean> {
    if (!this.jobId) return false;
    const owner = await this.owner();
    return owner !== null && owner !== this.jobId;
  }

  /** Switchyard's capture and freeze triggers in this database (schema), by name. */
  private async triggers(): Promise<{ name: string; table: string }[]> {
    const sql = this.pg
      ? `SELECT t.tgname AS name, c.relname AS "table" FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE starts_with(t.tgname, 'sy_cc_') AND n.nspname = current_schema()`
      : `SELECT name, tbl_name AS "table" FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, 6) = 'sy_cc_'`;
    return (await this.q(sql)) as { name: string; table: string }[];
  }

  private dropTrigger(t: { name: string; table: string }): Promise<unknown> {
    return this.q(this.pg ? `DROP TRIGGER IF EXISTS ${this.e(t.name)} ON ${this.e(t.table)}` : `DROP TRIGGER IF EXISTS ${this.e(t.name)}`);
  }

  /**
   * Triggers that only refuse writes (no logging). PostgreSQL: they refuse unconditionally (their
   * existence is the freeze, which every transaction sees at its next statement, whatever its snapshot;
   * a row read through a REPEATABLE READ snapshot taken before the freeze would not be seen), and creating
   * them waits for transactions that are writing now. SQLite: they refuse while the freeze row exists
   * (one writer at a time, and a read transaction older than the freeze cannot become a writer).
   */
  private async installFreezeOnly(): Promise<void> {
    if (this.pg) {
      const fn = this.name('frz', this.freezeTable);
      const tables = [...new Set(this.tables.map((t) => t.io.table))];
      // Every table's lock is taken without waiting, all or none, and taken again until it succeeds: a
      // transaction of the app that holds one of the tables and waits for another (documents, then users)
      // would otherwise deadlock with the freeze, and PostgreSQL would abort one of the two.
      for (const deadline = Date.now() + FREEZE_LOCK_WAIT_MS; ; ) {
        try {
          await this.db.dataSource.transaction(async (em) => {
            for (const t of tables) await em.query(`LOCK TABLE ${this.e(t)} IN SHARE ROW EXCLUSIVE MODE NOWAIT`);
            await em.query(`CREATE OR REPLACE FUNCTION ${this.e(fn)}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION '${FREEZE_MESSAGE}' USING ERRCODE = '55000'; END $f$`);
            for (const t of this.tables) {
              await em.query(`CREATE OR REPLACE TRIGGER ${this.e(this.name('frz', t.name))} BEFORE INSERT OR UPDATE OR DELETE ON ${this.e(t.io.table)} FOR EACH ROW EXECUTE FUNCTION ${this.e(fn)}()`);
            }
          });
          return;
        } catch (e) {
          if ((e as { code?: string }).code !== '55P03' || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
    for (const t of this.tables) {
      for (const op of ['INSERT', 'UPDATE', 'DELETE']) {
        const trg = this.name(`frz_${op.toLowerCase()}`, t.name);
        await this.q(`CREATE TRIGGER IF NOT EXISTS ${this.e(trg)} BEFORE ${op} ON ${this.e(t.io.table)} BEGIN SELECT RAISE(ABORT, ${this.literal(FREEZE_MESSAGE)}) WHERE EXISTS (SELECT 1 FROM ${this.e(this.freezeTable)}); END`);
      }
    }
  }

  /** `AND tbl IN (...)` for a filter by dataset name (none: every table). */
  private only(tables: readonly string[] | undefined): string {
    return tables ? ` AND tbl IN (${tables.length ? tables.map((t) => this.literal(t)).join(', ') : 'NULL'})` : '';
  }

  /** Up to `limit` captured changes after sequence number `after` (of these tables only, if given), oldest first. */
  async pending(limit: number, after = 0, tables?: readonly string[]): Promise<CapturedChange[]> {
    const rows = (await this.q(`SELECT seq, tbl, pk FROM ${this.e(this.logTable)} WHERE seq > ${Math.floor(after)}${this.only(tables)} ORDER BY seq LIMIT ${Math.max(1, Math.floor(limit))}`)) as { seq: number | string; tbl: string; pk: string }[];
    return rows.map((r) => this.change(r));
  }

  private change(r: { seq: number | string; tbl: string; pk: string }): CapturedChange {
    return { seq: Number(r.seq), table: r.tbl, key: (JSON.parse(r.pk) as unknown[]).map((v) => String(v)), pk: r.pk };
  }

  /**
   * Every change logged so far (and committed) of the keys of `changes`, other than them: read before
   * the source rows of those keys are read again, these are covered by that read too, and go with them
   * (a key changed a hundred times is copied once). By the log's own key text, through its (tbl, pk) index.
   */
  async sameKeys(changes: CapturedChange[]): Promise<CapturedChange[]> {
    const byTable = new Map<string, Set<string>>();
    for (const c of changes) byTable.set(c.table, (byTable.get(c.table) ?? new Set()).add(c.pk));
    const given = new Set(changes.map((c) => c.seq));
    const out: CapturedChange[] = [];
    for (const [table, keys] of byTable) {
      const list = [...keys];
      for (let i = 0; i < list.length; i += 500) {
        const part = list.slice(i, i + 500);
        const params = this.pg ? part.map((_, j) => `$${j + 2}`) : part.map(() => '?');
        const rows = (await this.q(`SELECT seq, tbl, pk FROM ${this.e(this.logTable)} WHERE tbl = ${this.pg ? '$1' : '?'} AND pk IN (${params.join(', ')})`, [table, ...part])) as { seq: number | string; tbl: string; pk: string }[];
        for (const r of rows) if (!given.has(Number(r.seq))) out.push(this.change(r));
      }
    }
    return out;
  }

  /** How many changes wait to be applied (of these tables only, if given). */
  async backlog(tables?: readonly string[]): Promise<number> {
    const [r] = (await this.q(`SELECT COUNT(*) AS n FROM ${this.e(this.logTable)} WHERE 1 = 1${this.only(tables)}`)) as { n: number | string }[];
    return Number(r?.n ?? 0);
  }

  /** Forgets changes once they are applied. */
  async consumed(changes: CapturedChange[]): Promise<void> {
    for (let i = 0; i < changes.length; i += 500) {
      const seqs = changes.slice(i, i + 500).map((c) => Math.floor(c.seq));
      await this.q(`DELETE FROM ${this.e(this.logTable)} WHERE seq IN (${seqs.join(', ')})`);
    }
  }

  /**
   * Starts the write freeze: from its commit on, every write of a captured table fails with
   * FREEZE_MESSAGE. The freeze row records it (frozen(), a resumed job, readiness); the refusing triggers
   * enforce it (installFreezeOnly: on PostgreSQL their creation also waits for in-flight writers, so every
   * change made before the freeze is in the log when this returns).
   */
  async freeze(jobId: string): Promise<void> {
    await this.q(`INSERT INTO ${this.e(this.freezeTable)} (id, job_id) VALUES (1, ${this.pg ? '$1' : '?'}) ON CONFLICT (id) DO NOTHING`, [jobId]);
    await this.installFreezeOnly();
  }

  /**
   * Ends the freeze (a failed cutover, or a rollback to this store): the row goes, and the refusing
   * triggers a cutover left. A job's handle ends only its own freeze (never another job's cutover).
   */
  async unfreeze(): Promise<void> {
    if (!(await this.hasTable(this.freezeTable))) return;
    if (this.jobId) {
      const by = await this.frozenBy();
      if (by !== null && by !== this.jobId) return;
    }
    await this.q(`DELETE FROM ${this.e(this.freezeTable)}`);
    for (const t of await this.triggers()) if (t.name.startsWith('sy_cc_frz')) await this.dropTrigger(t);
    if (!(await this.hasTable(this.logTable))) {
      if (this.pg) await this.q(`DROP FUNCTION IF EXISTS ${this.e(this.name('frz', this.freezeTable))}() CASCADE`);
      await this.q(`DROP TABLE IF EXISTS ${this.e(this.freezeTable)}`);
    }
  }

  /** The job whose freeze this is, or null when not frozen. */
  async frozenBy(): Promise<string | null> {
    if (!(await this.hasTable(this.freezeTable))) return null;
    const [r] = (await this.q(`SELECT job_id FROM ${this.e(this.freezeTable)}`)) as { job_id: string | null }[];
    return r ? (r.job_id ?? '') : null;
  }

  /**
   * Why this job cannot go live on this database now (another job's capture, or another job's freeze),
   * or null. Checked when the job is built, before it writes anything.
   */
  async refusal(): Promise<SwitchyardError | null> {
    const owner = await this.owner();
    if (owner && owner !== this.jobId) return this.locked(owner);
    const by = await this.frozenBy();
    if (by !== null && by !== this.jobId) {
      return new SwitchyardError(
        'MIGRATION_STATE',
        `The source ${this.db.label} is frozen by the cutover of migration job ${by || '(unknown)'}; it is an old store now. Roll back to it first (unfreezeSource / switchyard unfreeze) if you mean to move it again. Nothing was written.`,
        { frozenBy: by },
      );
    }
    return null;
  }

  private locked(owner: string): SwitchyardError {
    return new SwitchyardError(
      'MIGRATION_LOCKED',
      `The source ${this.db.label} already carries the change capture of live migration job ${owner}; one live job per source at a time. ` +
        'Wait for it to end or cancel it; if its process is gone, cancel it and run `switchyard unfreeze` for this source, which removes a capture no running job owns. Nothing was written.',
      { owner },
    );
  }

  /** Whether the store is frozen now. */
  async frozen(): Promise<boolean> {
    if (!(await this.hasTable(this.freezeTable))) return false;
    const [r] = (await this.q(`SELECT COUNT(*) AS n FROM ${this.e(this.freezeTable)}`)) as { n: number | string }[];
    return Number(r?.n ?? 0) > 0;
  }

  private async hasTable(name: string): Promise<boolean> {
    return (await this.db.missingTables([name])).length === 0;
  }
}

/** A CREATE that lost a race with the same CREATE elsewhere (PostgreSQL: duplicate table, type or catalog row). */
function alreadyExists(e: unknown): boolean {
  const code = (e as { code?: string; driverError?: { code?: string } }).driverError?.code ?? (e as { code?: string }).code;
  return code === '42P07' || code === '42710' || (code === '23505' && /pg_type|already exists/i.test(String((e as Error).message)));
}
