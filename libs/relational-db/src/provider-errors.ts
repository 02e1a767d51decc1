import { errorMessage, ProviderUnavailableError } from '@switchyard/core';
import { QueryFailedError } from 'typeorm';

/** What a relational driver reports when its server does not answer (in time) or the file is locked too long. */
const UNANSWERED = /Query read timeout|timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|read ECONNRESET|database is locked/i;
const CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', 'SQLITE_BUSY']);

/**
 * A relational driver error that means "the database did not answer" (a stalled or unreachable
 * PostgreSQL: RELATIONAL_DB_TIMEOUT_MS passed, connection refused or dropped; SQLite: locked longer than
 * its busy timeout), as PROVIDER_UNAVAILABLE naming the engine (never its location); null for any other error.
 */
export function relationalUnavailable(e: unknown): ProviderUnavailableError | null {
  const inner = e instanceof QueryFailedError ? (e.driverError as unknown) : e;
  const code = String((inner as { code?: unknown })?.code ?? '');
  if (!UNANSWERED.test(errorMessage(inner)) && !CODES.has(code)) return null;
  const engine = code.startsWith('SQLITE') || /database is locked/.test(errorMessage(inner)) ? 'sqlite' : 'postgres';
  return new ProviderUnavailableError(`${engine} relational database`, inner);
}
