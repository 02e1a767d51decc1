import { createHash } from 'node:crypto';

/** PostgreSQL keeps at most 63 bytes of a name (NAMEDATALEN - 1) and silently drops the rest. */
export const PG_NAME_MAX_BYTES = 63;
/**
 * A name derived from another (a collection's table, a staging table, an index) that PostgreSQL keeps whole: unchanged
 * when it fits in 63 bytes, else cut on a character boundary and suffixed with a hash of the whole
 * name, so two long names that share their first 63 bytes still get distinct names.
 */
export function fitIdentifier(name: string, maxBytes = PG_NAME_MAX_BYTES): string {
  if (Buffer.byteLength(name, 'utf8') <= maxBytes) return name;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 12);
  const room = maxBytes - hash.length - 1;
  let head = '';
  let bytes = 0;
  for (const ch of name) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > room) break;
    head += ch;
    bytes += n;
  }
  return `${head}_${hash}`;
}


/**
 * Runs `fn` with pg's client-side query timeout lifted on one held connection (`client` is a pg Client
 * or PoolClient): for statements that are long by nature and bounded otherwise (schema migrations, index
 * builds, waits that have their own lock_timeout). Restored afterwards, so the pool's bound holds again.
 */
export async function withoutQueryTimeout<T>(client: unknown, fn: () => Promise<T>): Promise<T> {
  const params = (client as { connectionParameters?: { query_timeout?: number | false } }).connectionParameters;
  if (!params) return fn();
  const before = params.query_timeout;
  params.query_timeout = false;
  try {
    return await fn();
  } finally {
    params.query_timeout = before;
  }
}
