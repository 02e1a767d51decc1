import { createHash, Hash } from 'node:crypto';
import type { VectorRecord } from '@switchyard/vector-db';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { EntityMetadata, ObjectLiteral } from 'typeorm';

const MASK = (1n << 64n) - 1n;

/**
 * A value in a canonical form, so the same row read from SQLite and from PostgreSQL serialises the same:
 * dates as ISO-8601 UTC strings, object keys sorted, undefined as null, everything else as JSON has it.
 */
export function canonical(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (Array.isArray(v)) return v.map(canonical);
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('base64') };
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = canonical((v as Record<string, unknown>)[k]);
    return out;
  }
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/** First 64 bits of SHA-256 over the parts. */
export function hash64(...parts: (string | Buffer)[]): bigint {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest().readBigUInt64BE(0);
}

/** Order-independent checksum of a set of records: count, and the sum mod 2^64 of their 64-bit hashes. */
export class Checksum {
  count = 0;
  private sum = 0n;

  add(hash: bigint): void {
    this.sum = (this.sum + hash) & MASK;
    this.count++;
  }

  get hex(): string {
    return this.sum.toString(16).padStart(16, '0');
  }
}

const sortedColumns = new WeakMap<EntityMetadata, ColumnMetadata[]>();

/** Feeds one canonical value to the hash, tagged by type; strings unescaped and length-prefixed. */
function updateValue(h: Hash, v: unknown): void {
  const c = canonical(v);
  if (c === null) h.update('n');
  else if (typeof c === 'string') h.update(`s${c.length}:`).update(c);
  else if (typeof c === 'number' || typeof c === 'boolean') h.update(`${typeof c === 'number' ? 'd' : 'b'}${String(c)};`);
  else {
    const j = JSON.stringify(c);
    h.update(`j${j.length}:`).update(j);
  }
}

/** Hash of an entity row over every mapped column (by property name, sorted), in canonical form. */
export function rowHash(meta: EntityMetadata, row: ObjectLiteral): bigint {
  let columns = sortedColumns.get(meta);
  if (!columns) {
    columns = [...meta.columns].sort((a, b) => (a.propertyName < b.propertyName ? -1 : 1));
    sortedColumns.set(meta, columns);
  }
  const h = createHash('sha256').update(meta.tableName).update('\0');
  for (const c of columns) {
    h.update(c.propertyName).update('\0');
    updateValue(h, c.getEntityValue(row));
  }
  return h.digest().readBigUInt64BE(0);
}

/** Hash of a vector record's fields, without its embedding (what a re-index must reproduce exactly). */
export function recordFieldsHash(r: VectorRecord): bigint {
  return hash64(JSON.stringify(canonical({ id: r.id, userId: r.userId, documentId: r.documentId, chunkIndex: r.chunkIndex, content: r.content, metadata: r.metadata ?? {} })));
}

/** Hash of a vector record: its fields and the exact float32 bytes of its embedding. */
export function vectorHash(r: VectorRecord): bigint {
  const bytes = Buffer.from(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength);
  return hash64(recordFieldsHash(r).toString(16), '\0', bytes);
}
