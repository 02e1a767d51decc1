import { ArgumentsHost, Catch, HttpException, Logger } from '@nestjs/common';
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
  MODEL_NOT_LOADED: 'FAILED_PRECONDITION',
  MODEL_SWITCH_IN_PROGRESS: 'CONFLICT',
  GENERATION_INCOMPLETE: 'FAILED_PRECONDITION',
};

/** Domain errors on the few plain-HTTP routes (the console's downloads and dashboard). */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  MIGRATION_LOCKED: 409,
  PROVIDER_UNAVAILABLE: 503,
  MAINTENANCE: 503,
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

/**
 * A failure outside GraphQL's execution (plain HTTP: a malformed or oversized JSON body, an unknown
 * route): its status and a one-line GraphQL-over-HTTP error body. A client's mistake (4xx) is logged at
 * debug, not as an error with a stack.
 */
function httpFailure(e: unknown): { status: number; message: string; code: string } {
  if (e instanceof SwitchyardError) {
    const status = HTTP_STATUS[e.code] ?? 500;
    return { status, message: status === 500 ? 'internal error' : e.message, code: GRAPHQL_CODES[e.code] ?? 'INTERNAL_SERVER_ERROR' };
  }
  if (e instanceof HttpException) {
    const status = e.getStatus();
    return { status, message: e.message, code: status === 404 ? 'NOT_FOUND' : status < 500 ? 'BAD_REQUEST' : 'INTERNAL_SERVER_ERROR' };
  }
  const status = Number((e as { status?: unknown; statusCode?: unknown })?.status ?? (e as { statusCode?: unknown })?.statusCode);
  const type = (e as { type?: unknown })?.type;
  if (type === 'entity.parse.failed') return { status: 400, message: 'the request body is not valid JSON', code: 'BAD_REQUEST' };
  if (type === 'entity.too.large') return { status: 413, message: 'the request body is too large', code: 'BAD_REQUEST' };
  if (Number.isInteger(status) && status >= 400 && status < 500) return { status, message: e instanceof Error ? e.message : 'bad request', code: 'BAD_REQUEST' };
  return { status: 500, message: 'internal error', code: 'INTERNAL_SERVER_ERROR' };
}

type HttpResponse = { headersSent?: boolean; status(n: number): { json(b: unknown): void } };

/** Answers a failed plain-HTTP request: its status and a one-line GraphQL-over-HTTP style error body. */
export function sendHttpFailure(res: HttpResponse, exception: unknown, log = new Logger('HTTP')): void {
  const f = httpFailure(exception);
  if (f.status >= 500) log.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
  else log.debug(`${f.status} ${f.message}`);
  if (!res.headersSent) res.status(f.status).json({ errors: [{ message: f.message, extensions: { code: f.code } }] });
}

@Catch()
export class DomainErrorFilter implements GqlExceptionFilter {
  private readonly log = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): GraphQLError | void {
    if (host.getType<string>() !== 'http') return toGraphQLError(exception);
    sendHttpFailure(host.switchToHttp().getResponse<HttpResponse>(), exception, this.log);
  }
}
