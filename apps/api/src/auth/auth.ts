import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { BadInputError, SWITCHYARD_CONFIG, SwitchyardConfig, SwitchyardError, userIdProblem } from '@switchyard/core';
import * as jwt from 'jsonwebtoken';

export interface Caller {
  userId: string;
  roles: string[];
}

const ROLES_KEY = 'switchyard:roles';
/** Requires one of these roles (e.g. `@Roles('admin')`). */
export const Roles = (...roles: string[]) => SetMetadata(ROLES_KEY, roles);

interface GqlContext {
  req?: { headers?: Record<string, string | undefined> };
  connectionParams?: Record<string, unknown>;
  extra?: { request?: { headers?: Record<string, string | undefined> } };
  caller?: Caller;
}

/** The GraphQL context (HTTP: { req }; graphql-ws: { connectionParams, extra }); the caller is kept on it. */
function request(ctx: ExecutionContext): GqlContext {
  return GqlExecutionContext.create(ctx).getContext<GqlContext>();
}

function authorizationOf(c: GqlContext): string | undefined {
  const p = c.connectionParams ?? {};
  const fromParams = (p.Authorization ?? p.authorization) as string | undefined;
  return c.req?.headers?.authorization ?? fromParams ?? c.extra?.request?.headers?.authorization;
}

/**
 * Verifies an HS256 bearer token; `sub` is the user id, `roles` may include `admin`. The token must expire
 * (`exp`), and not be made to live longer than `maxTokenSeconds` (from `iat`, else from now).
 */
export function verifyToken(header: string | undefined, secret: string, maxTokenSeconds = 86_400): Caller {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) throw new SwitchyardError('UNAUTHENTICATED', 'missing bearer token (Authorization: Bearer <jwt>)');
  let claims: jwt.JwtPayload;
  try {
    claims = jwt.verify(m[1], secret, { algorithms: ['HS256'] }) as jwt.JwtPayload;
    if (typeof claims.sub !== 'string' || !claims.sub) throw new Error('token has no sub claim');
    if (typeof claims.exp !== 'number') throw new Error('token has no exp claim (tokens must expire)');
    const from = typeof claims.iat === 'number' ? claims.iat : Math.floor(Date.now() / 1000);
    if (claims.exp - from > maxTokenSeconds) throw new Error(`token lives ${claims.exp - from} s; at most ${maxTokenSeconds} s are accepted (AUTH_MAX_TOKEN_SECONDS)`);
  } catch (e) {
    throw new SwitchyardError('UNAUTHENTICATED', `invalid token: ${e instanceof Error ? e.message : String(e)}`);
  }
  // A verified token whose sub cannot be a user id (NUL, a lone surrogate, too long): the issuer's input.
  const why = userIdProblem(claims.sub);
  if (why) throw new BadInputError('sub', `the token's sub ${why}`);
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  return { userId: claims.sub as string, roles };
}

/** Every GraphQL operation needs a verified caller; @Roles adds a role check. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(SWITCHYARD_CONFIG) private readonly config: SwitchyardConfig,
    private readonly reflector: Reflector,
  ) {}

  canActivate(ctx: ExecutionContext): boolean {
    const req = request(ctx);
    req.caller ??= verifyToken(authorizationOf(req), this.config.auth.jwtSecret, this.config.auth.maxTokenSeconds);
    const need = this.reflector.getAllAndOverride<string[] | undefined>(ROLES_KEY, [ctx.getHandler(), ctx.getClass()]);
    if (need?.length && !need.some((r) => req.caller!.roles.includes(r))) {
      throw new SwitchyardError('FORBIDDEN', `this operation requires the ${need.join(' or ')} role`);
    }
    return true;
  }
}

export const CurrentUser = createParamDecorator((_data: unknown, ctx: ExecutionContext): Caller => {
  const caller = request(ctx).caller;
  if (!caller) throw new SwitchyardError('UNAUTHENTICATED', 'not authenticated');
  return caller;
});

export function mintToken(secret: string, sub: string, roles: string[] = [], expiresIn: jwt.SignOptions['expiresIn'] = '12h'): string {
  return jwt.sign({ sub, roles }, secret, { algorithm: 'HS256', expiresIn });
}
