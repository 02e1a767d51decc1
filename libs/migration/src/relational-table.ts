import { ColumnRow, datasetNameOf, RelationalDb, TableIo } from '@switchyard/relational-db';
import type { EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { DataReader, DataWriter, Page, WriteMode } from './datasets';
import { columnProblem, existingTuples, kindOf, TableRules, tupleKey, uniqueConflicts } from './row-rules';

/**
 * A table (Switchyard's own, a host entity's, a junction table) as column rows: read with keyset pages
 * in primary-key order, written with the driver's bulk path (PostgreSQL: COPY). As a target it screens
 * rows against the column types, the API's rules, unique keys and parent rows (foreign keys), and sets
 * self-references once the whole table is in (a row may name a parent that comes later in key order).
 */
export class RelationalTable implements DataReader<ColumnRow>, DataWriter<ColumnRow> {
  readonly io: TableIo;
  readonly meta: EntityMetadata;
  /** The dataset's name (step, checkpoint, backup record): Switchyard's own tables by logical name, whatever the prefix. */
  readonly name: string;
  /** The table's name in this database. */
  readonly table: string;
  readonly label: string;
  /** A dry run: ids each step would have written by now (parents are not copied yet). */
  private planned?: Map<string, Set<string>>;
  /** Where the rows written here come from, to set their self-references after the copy (finish). */
  private selfRefSource?: DataReader<ColumnRow>;

  constructor(
    readonly db: RelationalDb,
    entity: EntityTarget<ObjectLiteral>,
    /** Rules the rows written here must meet (a source table needs none). */
    private readonly rules: TableRules = { parents: [], selfRefs: [] },
  ) {
    this.io = db.table(entity);
    this.meta = this.io.meta;
    this.name = db.datasetName(entity);
    this.table = this.io.table;
    this.label = `table "${this.table}" at ${db.label}`;
  }

  count(): Promise<number> {
    return this.io.count();
  }

  async *pages(size: number, after?: string): AsyncGenerator<Page<ColumnRow>> {
    for await (const items of this.io.pages(size, after)) yield { items, cursor: this.idOf(items[items.length - 1]), units: items.length };
  }

  idOf(row: ColumnRow): string {
    return this.io.idOf(row);
  }

  async existing(items: ColumnRow[]): Promise<number> {
    return (await this.io.lookup(this.io.key, items.map((r) => this.io.key.map((k) => r[k.databaseName])), this.io.key)).length;
  }

  fetch(ids: string[]): Promise<ColumnRow[]> {
    return this.io.fetch(ids);
  }

  validate(row: ColumnRow): string | null {
    for (const c of this.io.columns) {
      const v = row[c.databaseName];
      if (v === null || v === undefined) {
        if (!c.isNullable && c.default === undefined && !c.isCreateDate && !c.isUpdateDate && !c.isGenerated) return `${c.databaseName} is null but the column is NOT NULL`;
        continue;
      }
      const typeProblem = columnProblem(c, v);
      if (typeProblem) return typeProblem;
      if (typeof v !== 'string') continue;
      if (c.length && v.length > Number(c.length) && [...v].length > Number(c.length)) {
        return `${c.databaseName} has ${[...v].length} characters; the target column holds at most ${c.length}`;
      }
      if (this.db.provider === 'postgres' && v.includes('\u0000')) return `${c.databaseName} contains a NUL character, which PostgreSQL text cannot hold`;
    }
    return this.rules.check?.(row) ?? null;
  }

  /** For a dry run: treat these ids (per table) as written, as the run would have by then. */
  assumeWritten(planned: Map<string, Set<string>>): void {
    this.planned = planned;
  }

  /** Parent rows that must exist (in the target, or for a dry run in the source too) and unique keys. */
  async screen(rows: ColumnRow[]): Promise<Map<number, string>> {
    // The unique-key and parent lookups at once (independent reads of the target); reasons set in the same order as one by one.
    const [out, parents] = await Promise.all([
      uniqueConflicts(this.io, rows),
      Promise.all(
        this.rules.parents.map(async (p) => {
          const tupleOf = (r: ColumnRow) => p.columns.map((c) => r[c.databaseName]);
          const wanted = rows.map(tupleOf).filter((t) => t.every((v) => v !== null && v !== undefined));
          const unique = [...new Map(wanted.map((t) => [tupleKey(t), t])).values()];
          return { p, tupleOf, unique, found: await existingTuples(this.db, p.parent, p.parentColumns, unique) };
        }),
      ),
    ]);
    for (const { p, tupleOf, unique, found } of parents) {
      const planned = this.planned?.get(datasetNameOf(p.parent));
      // A dry run: a parent the run would have written by then counts as there (planned ids are parent primary keys).
      if (planned) for (const t of unique) if (planned.has(t.length === 1 ? String(t[0]) : JSON.stringify(t))) found.add(tupleKey(t));
      rows.forEach((r, i) => {
        const t = tupleOf(r);
        if (out.has(i) || t.some((v) => v === null || v === undefined) || found.has(tupleKey(t))) return;
        out.set(i, `${p.noun} ${t.length === 1 ? JSON.stringify(String(t[0])) : tupleKey(t)} (${p.columns.map((c) => c.databaseName).join(', ')}) does not exist`);
      });
    }
    return out;
  }

  /**
   * screen(), and self-references too: for rows written whole (a live job's catch-up), whose parent in the
   * same table must be in the target already or among these rows.
   */
  async screenWhole(rows: ColumnRow[]): Promise<Map<number, string>> {
    const out = await this.screen(rows);
    const own = new Set(rows.map((r) => tupleKey(this.io.key.map((k) => r[k.databaseName]))));
    for (const cols of this.rules.selfRefs) {
      const tupleOf = (r: ColumnRow) => cols.map((c) => r[c.databaseName]);
      const wanted = rows.map(tupleOf).filter((t) => t.every((v) => v !== null && v !== undefined) && !own.has(tupleKey(t)));
      const found = await existingTuples(this.db, this.meta, this.io.key, [...new Map(wanted.map((t) => [tupleKey(t), t])).values()]);
      rows.forEach((r, i) => {
        const t = tupleOf(r);
        if (out.has(i) || t.some((v) => v === null || v === undefined) || own.has(tupleKey(t)) || found.has(tupleKey(t))) return;
        out.set(i, `${this.table} ${tupleKey(t)} (${cols.map((c) => c.databaseName).join(', ')}) does not exist yet`);
      });
    }
    return out;
  }

  /** Self-reference columns a row is first written without (NULL), while its parent may not be in yet. */
  private get deferred(): ColumnMetadata[] {
    return this.rules.selfRefs.flat().filter((c) => c.isNullable);
  }

  /** The rows to write for a copy of `source`: self-references set after the whole table is in (finish). */
  setSelfRefSource(source: DataReader<ColumnRow>): void {
    this.selfRefSource = source;
  }

  async write(items: ColumnRow[], mode: WriteMode): Promise<{ written: number; skipped: number }> {
    const skipped = mode === 'skip' ? await this.existing(items) : 0;
    const deferred = this.selfRefSource ? this.deferred : [];
    const rows = deferred.length ? items.map((r) => ({ ...r, ...Object.fromEntries(deferred.map((c) => [c.databaseName, null])) })) : items;
    await this.io.write(rows, mode);
    return { written: items.length - skipped, skipped };
  }

  /**
   * After the copy: sets the self-references written as NULL (reading the source again, so a resumed run
   * does it too; idempotent), then moves auto-increment sequences past the copied ids.
   */
  async finish(): Promise<void> {
    const deferred = this.deferred;
    if (this.selfRefSource && deferred.length) {
      for await (const page of this.selfRefSource.pages(1000)) {
        const refs = page.items.filter((r) => deferred.some((c) => r[c.databaseName] !== null && r[c.databaseName] !== undefined));
        const present = new Set((await this.io.lookup(this.io.key, refs.map((r) => this.io.key.map((k) => r[k.databaseName])), this.io.key)).map((r) => this.idOf(r)));
        await this.io.update(refs.filter((r) => present.has(this.idOf(r))), deferred);
      }
    }
    if (!this.db.readOnly) await this.io.resetSequences();
  }

  clear(): Promise<void> {
    return this.db.truncate(this.meta.target);
  }

  /** Copies the table into `<table>_backup_<tag>` in the same database. */
  async snapshot(tag: string): Promise<string> {
    return this.db.snapshotTable(this.table, `${this.table}_backup_${tag}`);
  }

  restore(snapshot: string): Promise<void> {
    return this.db.restoreSnapshot(this.table, snapshot);
  }

  snapshotCount(snapshot: string): Promise<number> {
    return this.db.countTable(snapshot);
  }

  /** The row as a JSON value, by column name (dates as ISO strings through JSON, bytes as {$bytes: base64}). */
  encode(row: ColumnRow): unknown {
    const r: Record<string, unknown> = {};
    for (const c of this.io.columns) {
      const v = row[c.databaseName] ?? null;
      r[c.databaseName] = Buffer.isBuffer(v) ? { $bytes: v.toString('base64') } : v;
    }
    return { t: this.name, r };
  }

  /** A row of this table from an export line (by column name; 0.1 files by property name), or null if the line is another table's. */
  decode(value: unknown): ColumnRow | null {
    const line = value as { t?: string; r?: Record<string, unknown> };
    if (line?.t !== this.name || !line.r) return null;
    const row: ColumnRow = {};
    for (const c of this.io.columns) {
      const named = c.databaseName in line.r ? line.r[c.databaseName] : line.r[c.propertyName];
      // A column the file does not have (written before it existed) gets its default, as an INSERT would give it.
      const v = named === undefined && !(c.databaseName in line.r) && !(c.propertyName in line.r) ? this.io.defaultFor(c) : named;
      const kind = kindOf(c);
      if (kind === 'instant' && typeof v === 'string') row[c.databaseName] = new Date(v);
      else if (kind === 'bytes' && v && typeof v === 'object' && typeof (v as { $bytes?: unknown }).$bytes === 'string') row[c.databaseName] = Buffer.from((v as { $bytes: string }).$bytes, 'base64');
      else row[c.databaseName] = v ?? null;
    }
    return row;
  }
}
