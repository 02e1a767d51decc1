import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import { SwitchyardError } from '@switchyard/core';
import type { ServerResponse } from 'node:http';

const STATUS: Partial<Record<SwitchyardError['code'], number>> = {
  BAD_INPUT: HttpStatus.BAD_REQUEST,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  CONFLICT: HttpStatus.CONFLICT,
  MIGRATION_LOCKED: HttpStatus.CONFLICT,
  MIGRATION_STATE: HttpStatus.CONFLICT,
  PROVIDER_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  DIMENSION_MISMATCH: HttpStatus.SERVICE_UNAVAILABLE,
  MODEL_MISMATCH: HttpStatus.SERVICE_UNAVAILABLE,
};

/** Switchyard throws domain errors with a stable `code`; this turns them into HTTP responses. */
@Catch(SwitchyardError)
export class SwitchyardErrorFilter implements ExceptionFilter {
  catch(error: SwitchyardError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    const status = STATUS[error.code] ?? HttpStatus.INTERNAL_SERVER_ERROR;
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ statusCode: status, code: error.code, message: error.message, details: error.details }));
  }
}
