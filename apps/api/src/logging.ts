import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SwitchyardConfig } from '@switchyard/core';
import type { Params } from 'nestjs-pino';
import type { Options } from 'pino-http';

/** A caller's own request id is kept when it is a plain token (letters, digits, `.`, `_`, `-`; at most 128). */
const REQUEST_ID = /^[\w.-]{1,128}$/;

/**
 * Structured logs (nestjs-pino / pino-http): one JSON line per event, every line of a request with its
 * `req.id` (the caller's `x-request-id`, or a new UUID, sent back in the response's `x-request-id`); a
 * request is logged as method, URL and id only (no headers, no body: tokens and documents stay out),
 * and the header paths are redacted besides, in case a serializer is changed. Client errors (4xx) are
 * info, server errors error.
 */
export function loggingOptions(config: SwitchyardConfig): Params & { pinoHttp: Options } {
  return {
    // pino-http is mounted by configureApp() before the body parser (so a request the parser refuses is
    // logged with its id too); nestjs-pino uses the logger it attached.
    useExisting: true,
    pinoHttp: {
      level: config.log.level,
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', '*.password', '*.jwtSecret'], censor: '[redacted]' },
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      // probes and scrapes every few seconds are not worth a line each
      autoLogging: { ignore: (req: IncomingMessage) => /^\/(health|metrics)(\/|$)/.test(req.url ?? '') },
    },
  };
}
