import { documentProblem } from '@switchyard/knowledge';
import { DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { EntityMetadata, EntityTarget, In, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';

/** A column whose value must name an existing row of another table (a parent). */
export interface ParentRule {
  column: string;
  entity: EntityTarget<ObjectLiteral>;
  /** For messages: "user". */
  noun: string;
}

/** What a table's rows must meet beyond their column types: the API's own rules, and their parents. */
export interface TableRules {
  check?(row: ObjectLiteral): string | null;
  parents: ParentRule[];
}

export interface RuleOptions {
  /** KNOWLEDGE_MAX_DOCUMENT_BYTES. */
  maxDocumentBytes: number;
}

/** The rules of Switchyard's own tables (a host's tables only get the column checks). */
export function rulesFor(entity: EntityTarget<ObjectLiteral>, o: RuleOptions): TableRules {
  if (entity === DocumentEntity) {
    return {
      parents: [{ column: 'userId', entity: UserEntity, noun: 'user' }],
      check: (d) => {
        const p = documentProblem({ documentId: d.externalId, content: d.content, title: d.title }, o.maxDocumentBytes);
        if (p) return `${p.field === 'documentId' ? 'externalId' : p.field} ${p.message}`;
        if (typeof d.content === 'string' && d.contentBytes !== Buffer.byteLength(d.content, 'utf8')) return `contentBytes is ${JSON.stringify(d.contentBytes)} but the content has ${Buffer.byteLength(d.content, 'utf8')} bytes`;
        return null;
      },
    };
  }
  if (entity === UserEntity) {
    return { parents: [], check: (u) => (typeof u.id === 'string' && u.id.trim() ? null : 'id must not be empty') };
  }
  return { parents: [] };
}

function kindOf(c: ColumnMetadata): 'string' | 'integer' | 'number' | 'boolean' | 'date' | 'json' | 'other' {
  const t = typeof c.type === 'function' ? (c.type as { name?: string }).name?.toLowerCase() : String(c.type).toLowerCase();
  if (c.isCreateDate || c.isUpdateDate || t === 'date' || /timestamp|datetime/.test(t ?? '')) return 'date';
  if (/char|text|uuid|string/.test(t ?? '')) return 'string';
  if (/^(int|integer|smallint|bigint|int2|int4|int8)$/.test(t ?? '')) return 'integer';
  if (/real|double|float|numeric|decimal|number/.test(t ?? '')) return 'number';
  if (/bool/.test(t ?? '')) return 'boolean';
  if (/json/.test(t ?? '')) return 'json';
  return 'other';
}

/** Why a value cannot go into a column of this type, or null. */
export function columnProblem(c: ColumnMetadata, v: unknown): string | null {
  const name = c.databaseName;
  switch (kindOf(c)) {
    case 'string':
      return typeof v === 'string' ? null : `${name} must be a string, got ${JSON.stringify(v)}`;
    case 'integer':
      return Number.isSafeInteger(v) ? null : `${name} must be an integer, got ${JSON.stringify(v)}`;
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? null : `${name} must be a finite number, got ${JSON.stringify(v)}`;
    case 'boolean':
      return typeof v === 'boolean' ? null : `${name} must be true or false, got ${JSON.stringify(v)}`;
    case 'date':
      return v instanceof Date && !Number.isNaN(v.getTime()) ? null : `${name} must be a valid date, got ${JSON.stringify(v)}`;
    default:
      return null;
  }
}

const IN_CHUNK = 500;

/** Ids (of `column` in `entity`) that exist in `db`. */
export async function existingKeys(db: RelationalDb, entity: EntityTarget<ObjectLiteral>, ids: string[]): Promise<Set<string>> {
  const meta = db.metadata(entity);
  const key = meta.primaryColumns[0].propertyName;
  const out = new Set<string>();
  for (let i = 0; i < ids.length; i += IN_CHUNK) {
    const rows = await db.repository(entity).find({ select: { [key]: true } as never, where: { [key]: In(ids.slice(i, i + IN_CHUNK)) } as never });
    for (const r of rows) out.add(String(r[key]));
  }
  return out;
}

/**
 * Rows of a batch that would break a unique key (other than the primary key): twice in the batch, or
 * already in the target under another primary key. Reasons by index.
 */
export async function uniqueConflicts(db: RelationalDb, meta: EntityMetadata, rows: ObjectLiteral[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const pk = meta.primaryColumns[0].propertyName;
  for (const index of meta.indices.filter((x) => x.isUnique)) {
    const cols = index.columns.map((c) => c.propertyName);
    const keyOf = (r: ObjectLiteral) => JSON.stringify(cols.map((c) => r[c]));
    const label = `(${index.columns.map((c) => c.databaseName).join(', ')})`;
    const seen = new Map<string, ObjectLiteral>();
    rows.forEach((r, i) => {
      const k = keyOf(r);
      const first = seen.get(k);
      if (first && String(first[pk]) !== String(r[pk])) out.set(i, `${label} = ${k} is also used by ${JSON.stringify(String(first[pk]))} earlier in the source (unique key ${index.name})`);
      else if (!first) seen.set(k, r);
    });
    for (let i = 0; i < rows.length; i += IN_CHUNK) {
      const part = rows.slice(i, i + IN_CHUNK);
      // A NULL never collides in a unique index (and TypeORM would drop it from the filter).
      const where = part.filter((r) => cols.every((c) => r[c] !== null && r[c] !== undefined)).map((r) => Object.fromEntries(cols.map((c) => [c, r[c]])));
      if (!where.length) continue;
      const found = await db.repository(meta.target).find({ select: Object.fromEntries([pk, ...cols].map((c) => [c, true])) as never, where: where as never });
      const holder = new Map(found.map((f) => [keyOf(f), String(f[pk])]));
      part.forEach((r, j) => {
        const h = holder.get(keyOf(r));
        if (h !== undefined && h !== String(r[pk]) && !out.has(i + j)) out.set(i + j, `${label} = ${keyOf(r)} already belongs to ${JSON.stringify(h)} in the target (unique key ${index.name})`);
      });
    }
  }
  return out;
}
