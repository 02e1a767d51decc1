import { createHash, hash as oneShot } from 'node:crypto';
import { ColumnRow, datasetNameOf, TableIo } from '@switchyard/relational-db';
import type { VectorRecord } from '@switchyard/vector-db';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { kindOf } from './row-rules';

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

/** First 64 bits of SHA-256 of one string, by the one-shot API (half the cost of a Hash object per row). */
function sha64(text: string): bigint {
  return BigInt(`0x${oneShot('sha256', text, 'hex').slice(0, 16)}`);
}

/** First 64 bits of SHA-256 over the parts. */
export function hash64(...parts: (string | Buffer)[]): bigint {
  if (parts.length === 1 && typeof parts[0] === 'string') return sha64(parts[0]);
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest().readBigUInt64BE(0);
}

/** Order-independent checksum of a set of records: count, and the sum mod 2^64 of their 64-bit hashes. */
export class Checksum {
  count = 0;
  private sum = 0n;

  /** Optionally carried on from a checksum recorded before (count and hex). */
  constructor(count = 0, hex: string | null = null) {
    this.count = count;
    this.sum = hex ? BigInt(`0x${hex}`) & MASK : 0n;
  }

  add(hash: bigint): void {
    this.sum = (this.sum + hash) & MASK;
    this.count++;
  }

  /** Adds another set's checksum (the sets are disjoint: partitions of one dataset). */
  merge(other: Checksum): void {
    this.sum = (this.sum + other.sum) & MASK;
    this.count += other.count;
  }

  get hex(): string {
    return this.sum.toString(16).padStart(16, '0');
  }
}

const sortedColumns = new WeakMap<TableIo, ColumnMetadata[]>();

/** One canonical value as hashed, tagged by type; strings unescaped and length-prefixed. */
function valueText(v: unknown): string {
  const c = canonical(v);
  if (c === null) return 'n';
  if (typeof c === 'string') return `s${c.length}:${c}`;
  if (typeof c === 'number' || typeof c === 'boolean') return `${typeof c === 'number' ? 'd' : 'b'}${String(c)};`;
  const j = JSON.stringify(c);
  return `j${j.length}:${j}`;
}

/** `12.50` and 12.5 alike: a decimal as its shortest exact text (SQLite keeps decimals as numbers, PostgreSQL as text). */
function decimalText(v: string): string {
  let s = v.trim();
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  if (/^-?0*$/.test(s)) return '0';
  return s.replace(/^(-?)0+(?=\d)/, '$1');
}

/**
 * A column value in the form both engines agree on: integers and decimals as text (PostgreSQL returns
 * bigint and numeric as strings, SQLite as numbers), uuids in lower case (PostgreSQL normalises them).
 */
export function columnCanonical(c: ColumnMetadata, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (kindOf(c)) {
    case 'integer':
      return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' ? String(v) : v;
    case 'decimal':
      return typeof v === 'number' ? decimalText(String(v)) : typeof v === 'string' ? decimalText(v) : v;
    case 'string':
      return typeof v === 'string' && String(c.type).toLowerCase() === 'uuid' ? v.toLowerCase() : v;
    default:
      return v;
  }
}

/**
 * Hash of a table row over every stored column (by column name, sorted), in canonical form, salted with
 * the dataset's name (a table's logical name: the same whatever the table prefix of either side).
 */
export function rowHash(io: TableIo, row: ColumnRow): bigint {
  let columns = sortedColumns.get(io);
  if (!columns) {
    columns = [...io.columns].sort((a, b) => (a.databaseName < b.databaseName ? -1 : 1));
    sortedColumns.set(io, columns);
  }
  // One string, hashed at once (the same bytes as feeding the parts one by one: one native call per row).
  let text = `${datasetNameOf(io.meta)}\0`;
  for (const c of columns) text += `${c.databaseName}\0${valueText(columnCanonical(c, row[c.databaseName]))}`;
  return sha64(text);
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
