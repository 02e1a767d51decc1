/**
 * Domain errors. Every failure that crosses a library boundary is a SwitchyardError with a stable
 * machine-readable code. Only the API edge (GraphQL resolvers, CLI) turns these into transport errors.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'BAD_INPUT'
  | 'NOT_FOUND'
  | 'PROVIDER_UNAVAILABLE'
  | 'MODEL_LOAD_FAILED'
  | 'DIMENSION_MISMATCH'
  | 'MODEL_MISMATCH'
  | 'METRIC_MISMATCH'
  | 'CONFLICT'
  | 'MIGRATION_LOCKED'
  | 'MIGRATION_STATE'
  | 'CANCELLED'
  | 'VERIFICATION_FAILED'
  | 'SAME_STORE'
  | 'MAINTENANCE'
  | 'MODEL_NOT_LOADED'
  | 'MODEL_SWITCH_IN_PROGRESS'
  | 'GENERATION_INCOMPLETE'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INTERNAL';

export class SwitchyardError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SwitchyardError';
  }
}

/** A provider (database, model server, LLM) could not be reached or failed. */
export class ProviderUnavailableError extends SwitchyardError {
  constructor(provider: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('PROVIDER_UNAVAILABLE', `${provider} is unavailable: ${why}`, { provider }, { cause });
    this.name = 'ProviderUnavailableError';
  }
}

export class BadInputError extends SwitchyardError {
  constructor(readonly field: string, message: string) {
    super('BAD_INPUT', `${field}: ${message}`, { field });
    this.name = 'BadInputError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
