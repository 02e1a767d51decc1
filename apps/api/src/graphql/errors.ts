import { ArgumentsHost, Catch, Logger } from '@nestjs/common';
import { GqlExceptionFilter } from '@nestjs/graphql';
import { ErrorCode, SwitchyardError } from '@switchyard/core';
import { FREEZE_MESSAGE, relationalUnavailable } from '@switchyard/relational-db';
import { GraphQLError } from 'graphql';

const GRAPHQL_CODES: Partial<Record<ErrorCode, string>> = {
  BAD_INPUT: 'BAD_USER_INPUT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  PROVIDER_UNAVAILABLE: 'PROVIDER_UNAVAILABLE',
  DIMENSION_MISMATCH: 'FAILED_PRECONDITION',
  MODEL_MISMATCH: 'FAILED_PRECONDITION',
  METRIC_MISMATCH: 'FAILED_PRECONDITION',
  CONFLICT: 'CONFLICT',
  MIGRATION_LOCKED: 'CONFLICT',
  MIGRATION_STATE: 'FAILED_PRECONDITION',
  SAME_STORE: 'BAD_USER_INPUT',
  VERIFICATION_FAILED: 'FAILED_PRECONDITION',
  MAINTENANCE: 'MAINTENANCE',
};

/** The only place domain errors become GraphQL errors. */
export function toGraphQLError(e: unknown): GraphQLError {
  if (e instanceof GraphQLError) return e;
  if (e instanceof SwitchyardError) {
    return new GraphQLError(e.message, {
      extensions: { code: GRAPHQL_CODES[e.code] ?? 'INTERNAL_SERVER_ERROR', reason: e.code, ...e.details },
    });
  }
  // A write refused by a live migration's freeze (the database's own trigger said so): a state, not a bug.
  if (e instanceof Error && e.message.includes(FREEZE_MESSAGE)) {
    return new GraphQLError(FREEZE_MESSAGE, { extensions: { code: 'MAINTENANCE', reason: 'MAINTENANCE' } });
  }
  const unavailable = relationalUnavailable(e);
  if (unavailable) return toGraphQLError(unavailable);
  new Logger('GraphQL').error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  return new GraphQLError('internal error', { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

@Catch()
export class DomainErrorFilter implements GqlExceptionFilter {
  catch(exception: unknown, _host: ArgumentsHost): GraphQLError {
    return toGraphQLError(exception);
  }
}
