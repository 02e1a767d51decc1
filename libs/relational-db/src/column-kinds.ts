import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';

/** The kinds of JS value a column hydrates to (one classification for checks, checksums and keys). */
export type ColumnKind = 'string' | 'integer' | 'decimal' | 'float' | 'boolean' | 'instant' | 'calendar' | 'json' | 'bytes' | 'enum' | 'other';

/** What kind of JS value a column hydrates to. */
export function kindOf(c: ColumnMetadata): ColumnKind {
  if (c.enum) return 'enum';
  if (c.type === Date || c.isCreateDate || c.isUpdateDate || c.isDeleteDate) return 'instant';
  if (c.type === Boolean) return 'boolean';
  if (c.type === Number) return 'integer'; // TypeORM maps a plain number column to integer
  if (c.type === String) return 'string';
  const t = (typeof c.type === 'function' ? (c.type as { name?: string }).name ?? '' : String(c.type)).toLowerCase();
  if (/^(date|time|time without time zone)$/.test(t)) return 'calendar';
  if (/timestamp|datetime/.test(t)) return 'instant';
  if (/char|text|uuid|string|clob/.test(t)) return 'string';
  if (/^(int|integer|smallint|bigint|int2|int4|int8|tinyint|mediumint)$/.test(t)) return 'integer';
  if (/numeric|decimal|money/.test(t)) return 'decimal';
  if (/real|double|float|number/.test(t)) return 'float';
  if (/bool/.test(t)) return 'boolean';
  if (/json/.test(t)) return 'json';
  if (/blob|bytea|binary/.test(t)) return 'bytes';
  if (t === 'enum' || t === 'simple-enum') return 'enum';
  return 'other';
}

