import { randomUUID } from 'node:crypto';
import type { EntityMetadata } from 'typeorm';
import { kindOf } from './column-kinds';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { RelationalDb, RowConflict } from './relational-db.port';

/**
 * A row of a table as its columns hold it: database column name -> the JS value TypeORM hydrates the
 * column to (booleans, Dates, parsed JSON, Buffers, numeric strings for decimals and bigints). Any
 * table an entity describes fits, junction tables and foreign-key columns without a property included.
 */
export type ColumnRow = Record<string, unknown>;

const IN_CHUNK = 500;

/** Every stored column of a table once (a relation's join column and an explicit @Column of the same name are one column). */
function storedColumns(meta: EntityMetadata): ColumnMetadata[] {
  const seen = new Map<string, ColumnMetadata>();
  for (const c of meta.columns) {
    // A relation's join column is "virtual" (no property of its own) but stored; a @VirtualColumn and a generated column are not.
    if (c.isVirtualProperty || c.generatedType) continue;
    if (!seen.has(c.databaseName)) seen.set(c.databaseName, c);
  }
  return [...seen.values()];
}

/**
 * Reads and writes one table as column rows, with the engine's own SQL: keyset pages in primary-key
 * order (composite keys compared as row values), bulk writes with the driver's fast path, lookups by
 * key tuples, sequence resets. Shared by both engines; the driver supplies only insertColumnRows.
 */
export class TableIo {
  readonly columns: ColumnMetadata[];
  readonly key: ColumnMetadata[];
  readonly table: string;

  constructor(
    readonly db: RelationalDb,
    readonly meta: EntityMetadata,
  ) {
    this.columns = storedColumns(meta);
    this.key = meta.primaryColumns.map((k) => this.columns.find((c) => c.databaseName === k.databaseName) ?? k);
    this.table = meta.tableName;
  }

  private get driver() {
    return this.db.dataSource.driver;
  }

  private e(name: string): string {
    return this.driver.escape(name);
  }

  private hydrate(raw: Record<string, unknown>): ColumnRow {
    const row: ColumnRow = {};
    for (const c of this.columns) {
      const v = raw[c.databaseName];
      row[c.databaseName] = v === null || v === undefined ? null : this.driver.prepareHydratedValue(v, c);
    }
    return row;
  }

  /**
   * The value a column gets when a row does not name it (an entity object without the property, an older
   * export file without the column), as an INSERT that leaves the column out would give it: its literal
   * default, now for create/update dates, a new uuid for a generated uuid key; else NULL.
   */
  defaultFor(c: ColumnMetadata): unknown {
    if (c.isCreateDate || c.isUpdateDate) return new Date();
    if (c.isGenerated && c.generationStrategy === 'uuid') return randomUUID();
    const d = c.default;
    return typeof d === 'number' || typeof d === 'boolean' || typeof d === 'string' ? d : null;
  }

  /** A column value as a statement parameter of this engine. */
  param(c: ColumnMetadata, v: unknown): unknown {
    return v === null || v === undefined ? null : this.driver.preparePersistentValue(v, c);
  }

  private placeholders(n: number, from = 0): string[] {
    return Array.from({ length: n }, (_, i) => this.driver.createParameter(`p${from + i}`, from + i));
  }

  /** `(a, b)` or `a`: a tuple of columns as SQL. */
  private tuple(cols: ColumnMetadata[]): string {
    const names = cols.map((c) => this.e(c.databaseName));
    return names.length === 1 ? names[0] : `(${names.join(', ')})`;
  }

  /** The primary key of a row as one string: the value itself for a one-column key, a JSON array for a composite one. */
  idOf(row: ColumnRow): string {
    if (this.key.length === 1) return String(row[this.key[0].databaseName]);
    return JSON.stringify(this.key.map((k) => keyPart(row[k.databaseName])));
  }

  /** The key values back from idOf(). */
  keyOf(id: string): unknown[] {
    if (this.key.length === 1) return [kindOf(this.key[0]) === 'integer' && /^-?\d{1,15}$/.test(id) ? Number(id) : id];
    return JSON.parse(id) as unknown[];
  }

  async count(): Promise<number> {
    const [r] = (await this.db.dataSource.query(`SELECT COUNT(*) AS n FROM ${this.e(this.table)}`)) as { n: number | string }[];
    return Number(r?.n ?? 0);
  }

  /** Every row in ascending primary-key order, a page at a time; resumable after a row's idOf(). */
  async *pages(size: number, after?: string): AsyncGenerator<ColumnRow[]> {
    const select = `SELECT ${this.columns.map((c) => this.e(c.databaseName)).join(', ')} FROM ${this.e(this.table)}`;
    const order = ` ORDER BY ${this.key.map((k) => this.e(k.databaseName)).join(', ')} LIMIT ${Math.max(1, Math.floor(size))}`;
    let cursor = after === undefined ? undefined : this.keyOf(after);
    for (;;) {
      const where = cursor ? ` WHERE ${this.tuple(this.key)} > ${wrap(this.placeholders(this.key.length))}` : '';
      const params = cursor ? this.key.map((k, i) => this.param(k, cursor![i])) : [];
      const raw = (await this.db.dataSource.query(select + where + order, params)) as Record<string, unknown>[];
      if (!raw.length) return;
      const rows = raw.map((r) => this.hydrate(r));
      yield rows;
      if (rows.length < size) return;
      cursor = this.key.map((k) => rows[rows.length - 1][k.databaseName]);
    }
  }

  /** Rows whose `cols` equal one of `tuples` (rows of this table), with `select` columns. */
  async lookup(cols: ColumnMetadata[], tuples: unknown[][], select: ColumnMetadata[] = this.columns): Promise<ColumnRow[]> {
    const names = [...new Set(select.map((c) => c.databaseName))];
    const parts: unknown[][][] = [];
    for (let i = 0; i < tuples.length; i += IN_CHUNK) parts.push(tuples.slice(i, i + IN_CHUNK));
    // The parts at once (each its own pooled connection on PostgreSQL; SQLite answers them in turn).
    const found = await Promise.all(
      parts.map(async (part) => {
        const params: unknown[] = [];
        const list = part.map((t) => {
          const ph = this.placeholders(cols.length, params.length);
          params.push(...cols.map((c, j) => this.param(c, t[j])));
          return wrap(ph);
        });
        // Several columns: a VALUES list (a join PostgreSQL can hash) rather than an OR of row comparisons.
        const within = cols.length === 1 ? list.join(', ') : `VALUES ${list.join(', ')}`;
        const sql = `SELECT ${names.map((n) => this.e(n)).join(', ')} FROM ${this.e(this.table)} WHERE ${this.tuple(cols)} IN (${within})`;
        return ((await this.db.dataSource.query(sql, params)) as Record<string, unknown>[]).map((r) => this.hydrate(r));
      }),
    );
    return found.flat();
  }

  /** The rows with these primary keys (idOf() strings). */
  fetch(ids: string[]): Promise<ColumnRow[]> {
    return this.lookup(this.key, ids.map((id) => this.keyOf(id)));
  }

  /** Writes rows in bulk (PostgreSQL: COPY), with the conflict rule on the primary key. */
  write(rows: ColumnRow[], mode: RowConflict): Promise<void> {
    return this.db.insertColumnRows(this, rows, mode);
  }

  /** Deletes the rows with these primary keys (tuples of key values), in one transaction. */
  async deleteKeys(keys: unknown[][]): Promise<void> {
    if (!keys.length) return;
    await this.db.dataSource.transaction(async (em) => {
      for (let i = 0; i < keys.length; i += IN_CHUNK) {
        const part = keys.slice(i, i + IN_CHUNK);
        const params: unknown[] = [];
        const list = part.map((t) => {
          const ph = this.placeholders(this.key.length, params.length);
          params.push(...this.key.map((k, j) => this.param(k, t[j])));
          return wrap(ph);
        });
        await em.query(`DELETE FROM ${this.e(this.table)} WHERE ${this.tuple(this.key)} IN (${list.join(', ')})`, params);
      }
    });
  }

  /** Sets `cols` of existing rows (matched by primary key) to the rows' values, in one transaction. */
  async update(rows: ColumnRow[], cols: ColumnMetadata[]): Promise<void> {
    if (!rows.length || !cols.length) return;
    const set = cols.map((c, i) => `${this.e(c.databaseName)} = ${this.driver.createParameter(`s${i}`, i)}`).join(', ');
    const where = this.key.map((k, i) => `${this.e(k.databaseName)} = ${this.driver.createParameter(`k${i}`, cols.length + i)}`).join(' AND ');
    const sql = `UPDATE ${this.e(this.table)} SET ${set} WHERE ${where}`;
    await this.db.dataSource.transaction(async (em) => {
      for (const r of rows) await em.query(sql, [...cols.map((c) => this.param(c, r[c.databaseName])), ...this.key.map((k) => this.param(k, r[k.databaseName]))]);
    });
  }

  /**
   * After rows were written with explicit values into auto-increment columns: moves each column's
   * sequence past the highest value, so the next INSERT without an id does not collide (PostgreSQL;
   * SQLite's rowid and AUTOINCREMENT counter follow the inserted values by themselves).
   */
  async resetSequences(): Promise<void> {
    if (this.db.provider !== 'postgres') return;
    for (const c of this.columns.filter((x) => x.isGenerated && x.generationStrategy === 'increment')) {
      const col = this.e(c.databaseName);
      await this.db.dataSource.query(
        `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(${col}) FROM ${this.e(this.table)}), 1), (SELECT MAX(${col}) FROM ${this.e(this.table)}) IS NOT NULL)`,
        [this.e(this.table), c.databaseName],
      );
    }
  }
}

const wrap = (placeholders: string[]): string => (placeholders.length === 1 ? placeholders[0] : `(${placeholders.join(', ')})`);

/** A key value as JSON keeps it (Dates as ISO strings). */
function keyPart(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/**
 * `ON CONFLICT (pk) DO NOTHING / DO UPDATE SET c = <new value of c>, ...` for a bulk write (SQLite and
 * PostgreSQL share the syntax); empty for 'error' (a duplicate key fails the statement).
 */
export function conflictClause(io: TableIo, onConflict: RowConflict, incoming: (column: string) => string): string {
  if (onConflict === 'error') return '';
  const e = (n: string) => io.db.dataSource.driver.escape(n);
  const pk = io.key.map((k) => e(k.databaseName)).join(', ');
  const rest = io.columns.filter((c) => !io.key.includes(c));
  if (onConflict === 'skip' || !rest.length) return ` ON CONFLICT (${pk}) DO NOTHING`;
  return ` ON CONFLICT (${pk}) DO UPDATE SET ${rest.map((c) => `${e(c.databaseName)} = ${incoming(c.databaseName)}`).join(', ')}`;
}
