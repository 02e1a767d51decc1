import { createHash } from 'node:crypto';
import { fitIdentifier, PG_NAME_MAX_BYTES, SwitchyardError, VectorProvider } from '@switchyard/core';

export { fitIdentifier, PG_NAME_MAX_BYTES };

/** The meta tables key collections by varchar(255). */
export const COLLECTION_MAX = 255;
/** Every SQL driver keeps its meta in this table; a collection must not take its name. */
export const META_TABLE = 'switchyard_vector_meta';

/** `"name"` with embedded double quotes doubled: a safe identifier for PostgreSQL and SQLite. */
export function quoteIdent(name: string): string {
  if (!name || name.includes('\u0000')) throw new SwitchyardError('BAD_INPUT', `${JSON.stringify(name)} cannot be used as an SQL identifier`);
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Refuses a collection name the driver cannot hold safely (the config checks VECTOR_DB_COLLECTION too;
 * this also covers drivers built directly, e.g. from a migration profile). SQL drivers: letters, digits
 * and _, starting with a letter or _; Chroma: its own rule (3+ characters of letters, digits, . _ -,
 * starting and ending with a letter or digit). At most 255 characters.
 */
export function assertCollectionName(provider: VectorProvider, name: unknown): void {
  const refuse = (rule: string) =>
    new SwitchyardError('CONFIG_INVALID', `${provider} collection name ${JSON.stringify(name)} is not allowed: ${rule}. Set VECTOR_DB_COLLECTION to such a name.`, { provider, collection: name });
  if (typeof name !== 'string' || !name) throw refuse('it is empty');
  if (name.length > COLLECTION_MAX) throw refuse(`it has ${name.length} characters, at most ${COLLECTION_MAX} are allowed`);
  if (provider === 'chromadb') {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$/.test(name) || name.length < 3 || name.includes('..')) {
      throw refuse('use 3 or more letters, digits, ".", "_" or "-", starting and ending with a letter or digit');
    }
    return;
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw refuse('use letters, digits and _, starting with a letter or _');
  if (name.toLowerCase() === META_TABLE) throw refuse(`${META_TABLE} is Switchyard's own meta table`);
  if (provider === 'sqlite-vec' && /^sqlite_/i.test(name)) throw refuse('names starting with sqlite_ are reserved by SQLite');
}

/** Whether the string holds a NUL character (PostgreSQL text and jsonb cannot store it). */
export const hasNul = (s: string) => s.includes('\u0000');
