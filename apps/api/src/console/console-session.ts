import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { SwitchyardError } from '@switchyard/core';
import type { NextFunction, Request, Response } from 'express';
import { Authenticator, bearer, Caller } from '../auth/auth';
import { sendHttpFailure } from '../graphql/errors';

/**
 * The console's session cookie: the admin's token, for what a browser fetches without a header (a reject
 * file download, the queue dashboard). HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * sends it: no cross-site request forgery of bull-board's POST actions), Path=/console, and it lives no
 * longer than the token in it. GraphQL never reads it: it takes the Authorization header only.
 */
export const SESSION_COOKIE = 'switchyard_console';
export const SESSION_PATH = '/console';

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The token of the request: its Authorization header, else the console's session cookie. */
function authorization(req: Request): string | undefined {
  if (req.headers.authorization) return req.headers.authorization;
  const t = cookie(req, SESSION_COOKIE);
  return t ? `Bearer ${t}` : undefined;
}

/** The admin calling over plain HTTP, or UNAUTHENTICATED / FORBIDDEN. */
export async function adminOf(auth: Authenticator, req: Request): Promise<Caller> {
  const caller = await auth.caller(authorization(req));
  if (!caller.roles.includes('admin')) throw new SwitchyardError('FORBIDDEN', 'the console needs the admin role');
  return caller;
}

/** Express middleware: only an admin passes (bull-board's router is not a Nest route). */
export function requireAdmin(auth: Authenticator) {
  return (req: Request, res: Response, next: NextFunction) => {
    adminOf(auth, req).then(
      () => next(),
      (e) => sendHttpFailure(res, e),
    );
  };
}

/** Nest guard for the console's HTTP routes: the same check. */
@Injectable()
export class ConsoleAdminGuard implements CanActivate {
  constructor(private readonly auth: Authenticator) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    await adminOf(this.auth, ctx.switchToHttp().getRequest<Request>());
    return true;
  }
}

/** Sets the session cookie for this admin's token (kept until the token expires, or sign-out). */
export function setSession(req: Request, res: Response, caller: Caller): void {
  const token = bearer(req.headers.authorization);
  const maxAge = caller.expiresAt ? Math.max(0, caller.expiresAt * 1000 - Date.now()) : undefined;
  res.cookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: SESSION_PATH, secure: req.secure, ...(maxAge !== undefined ? { maxAge } : {}) });
}

export function clearSession(res: Response): void {
  res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', path: SESSION_PATH });
}
