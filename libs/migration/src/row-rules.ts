import { userIdProblem } from '@switchyard/core';
import { documentProblem } from '@switchyard/knowledge';
import { ColumnRow, DocumentEntity, kindOf, RelationalDb, TableIo, UserEntity } from '@switchyard/relational-db';

export { kindOf };
import type { EntityMetadata } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';

/** Columns whose value must name an existing row of another table (a parent): a foreign key, or Switchyard's document -> user. */
export interface ParentRule {
  /** The child's columns, in the order of the parent's. */
  columns: ColumnMetadata[];
  parent: EntityMetadata;
  parentColumns: ColumnMetadata[];
  /** For messages: "user", or the parent table's name. */
  noun: string;
}

/** What a table's rows must meet beyond their column types: the API's own rules, and their parents. */
export interface TableRules {
  check?(row: ColumnRow): string | null;
  parents: ParentRule[];
  /** Self-references (a tree in one table): written as NULL first, set once every row of the table is in. */
  selfRefs: ColumnMetadata[][];
}

export interface RuleOptions {
  /** KNOWLEDGE_MAX_DOCUMENT_BYTES. */
  maxDocumentBytes: number;
}

const col = (meta: EntityMetadata, name: string): ColumnMetadata => meta.columns.find((c) => c.databaseName === name)!;

/**
 * The rules of a table: Switchyard's own tables get the API's rules (a document's size and fields, its
 * user); every table gets its foreign keys as parent rules (a row whose parent is not there is set aside
 * with the reason, instead of failing the batch on the constraint) and its self-references.
 */
export function rulesFor(db: RelationalDb, meta: EntityMetadata, o: RuleOptions): TableRules {
  const parents: ParentRule[] = [];
  const selfRefs: ColumnMetadata[][] = [];
  for (const fk of meta.foreignKeys) {
    if (!fk.referencedEntityMetadata) continue;
    if (fk.referencedEntityMetadata === meta) selfRefs.push(fk.columns);
    else parents.push({ columns: fk.columns, parent: fk.referencedEntityMetadata, parentColumns: fk.referencedColumns, noun: fk.referencedEntityMetadata.tableName });
  }
  if (meta.target === DocumentEntity) {
    const users = db.metadata(UserEntity);
    return {
      selfRefs,
      parents: [...parents, { columns: [col(meta, 'user_id')], parent: users, parentColumns: [col(users, 'id')], noun: 'user' }],
      check: (d) => {
        const p = documentProblem({ documentId: d.external_id as string, content: d.content as string, title: d.title as string | null, metadata: parsedJson(d.metadata) }, o.maxDocumentBytes);
        if (p) return `${p.field === 'documentId' ? 'external_id' : p.field} ${p.message}`;
        if (typeof d.content === 'string' && d.content_bytes !== Buffer.byteLength(d.content, 'utf8')) return `content_bytes is ${JSON.stringify(d.content_bytes)} but the content has ${Buffer.byteLength(d.content, 'utf8')} bytes`;
        return null;
      },
    };
  }
  if (meta.target === UserEntity) {
    return { selfRefs, parents, check: (u) => {
      const why = userIdProblem(u.id);
      return why ? `id ${why}` : null;
    } };
  }
  return { selfRefs, parents };
}

/** A JSON column's value as the app stored it: an object, or its text (SQLite's simple-json). */
function parsedJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Why a value cannot go into a column of this type, or null. */
export function columnProblem(c: ColumnMetadata, v: unknown): string | null {
  const name = c.databaseName;
  const got = () => (Buffer.isBuffer(v) ? `${v.length} bytes` : JSON.stringify(v));
  switch (kindOf(c)) {
    case 'string':
      return typeof v === 'string' ? null : `${name} must be a string, got ${got()}`;
    case 'integer':
      return Number.isSafeInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v)) ? null : `${name} must be an integer, got ${got()}`;
    case 'decimal':
      return (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) ? null : `${name} must be a decimal number, got ${got()}`;
    case 'float':
      return typeof v === 'number' && Number.isFinite(v) ? null : `${name} must be a finite number, got ${got()}`;
    case 'boolean':
      return typeof v === 'boolean' ? null : `${name} must be true or false, got ${got()}`;
    case 'instant':
      return v instanceof Date && !Number.isNaN(v.getTime()) ? null : `${name} must be a valid date, got ${got()}`;
    case 'calendar':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$|^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v) ? null : `${name} must be a date or time of day, got ${got()}`;
    case 'bytes':
      return Buffer.isBuffer(v) ? null : `${name} must be bytes, got ${got()}`;
    case 'enum':
      return (c.enum ?? []).map(String).includes(String(v)) ? null : `${name} must be one of ${JSON.stringify(c.enum)}, got ${got()}`;
    default:
      return null;
  }
}

/** A tuple of values as one comparable string (key of a Set / Map). */
export const tupleKey = (values: unknown[]): string => JSON.stringify(values.map((v) => (v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? v.toString('base64') : typeof v === 'number' ? String(v) : v)));

/** Which of these tuples of `cols` exist as rows of `meta` in `db` (as tupleKey strings). */
export async function existingTuples(db: RelationalDb, meta: EntityMetadata, cols: ColumnMetadata[], tuples: unknown[][]): Promise<Set<string>> {
  const io = new TableIo(db, meta);
  const rows = await io.lookup(cols, tuples, cols);
  return new Set(rows.map((r) => tupleKey(cols.map((c) => r[c.databaseName]))));
}

/**
 * Rows of a batch that would break a unique key (other than the primary key): twice in the batch, or
 * already in the target under another primary key. Reasons by index.
 */
export async function uniqueConflicts(io: TableIo, rows: ColumnRow[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const uniques = [...io.meta.indices.filter((x) => x.isUnique).map((x) => ({ name: x.name, columns: x.columns })), ...io.meta.uniques.map((u) => ({ name: u.name, columns: u.columns }))];
  // Every unique key's lookup at once; the reasons are then set in the keys' order, as before.
  const checks = await Promise.all(uniques.map(async (index) => {
    const cols = index.columns;
    const keyOf = (r: ColumnRow) => tupleKey(cols.map((c) => r[c.databaseName]));
    const label = `(${cols.map((c) => c.databaseName).join(', ')})`;
    const seen = new Map<string, ColumnRow>();
    const inBatch = new Map<number, string>();
    rows.forEach((r, i) => {
      const k = keyOf(r);
      const first = seen.get(k);
      if (first && io.idOf(first) !== io.idOf(r)) inBatch.set(i, `${label} = ${k} is also used by ${JSON.stringify(io.idOf(first))} earlier in the source (unique key ${index.name})`);
      else if (!first) seen.set(k, r);
    });
    // A NULL never collides in a unique index.
    const candidates = rows.map((r, i) => ({ r, i })).filter(({ r }) => cols.every((c) => r[c.databaseName] !== null && r[c.databaseName] !== undefined));
    const found = candidates.length ? await io.lookup(cols, candidates.map(({ r }) => cols.map((c) => r[c.databaseName])), [...io.key, ...cols]) : [];
    return { index, label, keyOf, seen: inBatch, candidates, holder: new Map(found.map((f) => [keyOf(f), io.idOf(f)])) };
  }));
  for (const { index, label, keyOf, seen, candidates, holder } of checks) {
    for (const [i, why] of seen) if (!out.has(i)) out.set(i, why);
    for (const { r, i } of candidates) {
      const h = holder.get(keyOf(r));
      if (h !== undefined && h !== io.idOf(r) && !out.has(i)) out.set(i, `${label} = ${keyOf(r)} already belongs to ${JSON.stringify(h)} in the target (unique key ${index.name})`);
    }
  }
  return out;
}
