import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { BadInputError, ProviderUnavailableError, SWITCHYARD_CONFIG, SwitchyardConfig, SwitchyardError, userIdProblem } from '@switchyard/core';
import { JwksClient } from 'jwks-rsa';
import * as jwt from 'jsonwebtoken';

export interface Caller {
  userId: string;
  roles: string[];
  /** When the token that named this caller expires (seconds since the epoch): a graphql-ws connection asks again after it. */
  expiresAt?: number;
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

/** The bearer token of an Authorization header, or UNAUTHENTICATED. */
export function bearer(header: string | undefined): string {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) throw new SwitchyardError('UNAUTHENTICATED', 'missing bearer token (Authorization: Bearer <jwt>)');
  return m[1];
}

/** A value at a dotted path of the claims (`realm_access.roles`). */
function claimAt(claims: jwt.JwtPayload, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), claims);
}

/** The caller of verified claims: `exp` required, at most `maxTokenSeconds` of life, a `sub` that can be a user id. */
function callerOf(claims: jwt.JwtPayload, maxTokenSeconds: number, rolesClaim = 'roles'): Caller {
  try {
    if (typeof claims.sub !== 'string' || !claims.sub) throw new Error('token has no sub claim');
    if (typeof claims.exp !== 'number') throw new Error('token has no exp claim (tokens must expire)');
    // From the issue time, or from now when that is later or missing: a future `iat` buys no extra life.
    const now = Math.floor(Date.now() / 1000);
    const from = typeof claims.iat === 'number' ? Math.min(claims.iat, now) : now;
    if (claims.exp - from > maxTokenSeconds) throw new Error(`token lives ${claims.exp - from} s; at most ${maxTokenSeconds} s are accepted (AUTH_MAX_TOKEN_SECONDS)`);
  } catch (e) {
    throw new SwitchyardError('UNAUTHENTICATED', `invalid token: ${e instanceof Error ? e.message : String(e)}`);
  }
  // A verified token whose sub cannot be a user id (NUL, a lone surrogate, too long): the issuer's input.
  const why = userIdProblem(claims.sub);
  if (why) throw new BadInputError('sub', `the token's sub ${why}`);
  const raw = claimAt(claims, rolesClaim);
  const roles = Array.isArray(raw) ? raw.filter((r): r is string => typeof r === 'string') : [];
  return { userId: claims.sub, roles, expiresAt: claims.exp };
}

/**
 * Verifies an HS256 bearer token; `sub` is the user id, `roles` may include `admin`. The token must expire
 * (`exp`), and not be made to live longer than `maxTokenSeconds` (from `iat`, else from now).
 */
export function verifyToken(header: string | undefined, secret: string, maxTokenSeconds = 86_400): Caller {
  const token = bearer(header);
  let claims: jwt.JwtPayload;
  try {
    claims = jwt.verify(token, secret, { algorithms: ['HS256'] }) as jwt.JwtPayload;
  } catch (e) {
    throw new SwitchyardError('UNAUTHENTICATED', `invalid token: ${e instanceof Error ? e.message : String(e)}`);
  }
  return callerOf(claims, maxTokenSeconds);
}

const ASYMMETRIC: jwt.Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

/** How often a token with a key id not seen before may make the app fetch the provider's keys again. */
const JWKS_REFETCH_MS = 15_000;
/** Known keys are fetched again (in the background of a request) once this old: a revoked key goes. */
const JWKS_MAX_AGE_MS = 10 * 60_000;

/**
 * The identity provider's signing keys by key id, fetched whole with jwks-rsa. A token with a key id
 * not in the set fetches the set again at most every JWKS_REFETCH_MS (so a flood of made-up key ids
 * costs one fetch per 15 s and never locks out the known keys; a rotated-in key is picked up by the first token that uses it 15 s after the last fetch), and the set is renewed once it is
 * JWKS_MAX_AGE_MS old; a renewal that fails keeps the known keys (the provider being down does not log
 * everyone out), a first fetch that fails is PROVIDER_UNAVAILABLE.
 */
class ProviderKeys {
  private keys = new Map<string, string>();
  private fetchedAt = 0;
  private attemptedAt = 0;
  private inFlight: Promise<void> | null = null;
  private readonly client: JwksClient;

  constructor(url: string, timeoutMs: number) {
    this.client = new JwksClient({ jwksUri: url, cache: false, rateLimit: false, timeout: timeoutMs });
  }

  async key(kid: string | undefined): Promise<string> {
    const now = Date.now();
    if (!this.fetchedAt) await this.refresh();
    else if (now - this.fetchedAt > JWKS_MAX_AGE_MS && now - this.attemptedAt > JWKS_REFETCH_MS) void this.refresh().catch(() => undefined);
    let found = this.pick(kid);
    if (found === undefined && Date.now() - this.attemptedAt > JWKS_REFETCH_MS) {
      await this.refresh();
      found = this.pick(kid);
    }
    if (found === undefined) throw Object.assign(new Error('it is signed with a key the identity provider does not publish'), { name: 'SigningKeyNotFoundError' });
    return found;
  }

  private pick(kid: string | undefined): string | undefined {
    if (kid !== undefined) return this.keys.get(kid);
    return this.keys.size === 1 ? [...this.keys.values()][0] : undefined; // no kid: only an unambiguous set
  }

  private refresh(): Promise<void> {
    this.inFlight ??= (async () => {
      this.attemptedAt = Date.now();
      try {
        const keys = await this.client.getSigningKeys();
        this.keys = new Map(keys.map((k) => [k.kid, k.getPublicKey()]));
        this.fetchedAt = Date.now();
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }
}

/**
 * Who calls: HS256 tokens signed with AUTH_JWT_SECRET, or, with AUTH_JWKS_URL, tokens of an identity
 * provider verified with its published keys (ProviderKeys; each fetch bounded by HEALTH_TIMEOUT_MS x 2).
 * An identity provider that does not answer is PROVIDER_UNAVAILABLE, an unknown key or a bad signature
 * UNAUTHENTICATED.
 */
@Injectable()
export class Authenticator {
  private readonly keys: ProviderKeys | null;

  constructor(@Inject(SWITCHYARD_CONFIG) private readonly config: SwitchyardConfig) {
    const jwks = config.auth.jwks;
    this.keys = jwks ? new ProviderKeys(jwks.url, config.health.timeoutMs * 2) : null;
  }

  async caller(header: string | undefined): Promise<Caller> {
    const auth = this.config.auth;
    if (!this.keys) return verifyToken(header, auth.jwtSecret, auth.maxTokenSeconds);
    const token = bearer(header);
    const keys = this.keys;
    const claims = await new Promise<jwt.JwtPayload>((resolve, reject) => {
      jwt.verify(
        token,
        (h, done) => {
          keys.key(h.kid).then(
            (k) => done(null, k),
            (e: Error) => done(e),
          );
        },
        { algorithms: ASYMMETRIC, issuer: auth.jwks!.issuer, audience: auth.jwks!.audience },
        (err, decoded) => (err ? reject(err) : resolve(decoded as jwt.JwtPayload)),
      );
    }).catch((e: unknown) => {
      throw jwksFailure(e);
    });
    return callerOf(claims, auth.maxTokenSeconds, auth.rolesClaim);
  }
}

/** A failed JWKS verification as a domain error: the identity provider unreachable, or the token refused. */
function jwksFailure(e: unknown): SwitchyardError {
  const name = (e as { name?: string })?.name ?? '';
  const code = (e as { code?: string })?.code ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  if (name === 'SigningKeyNotFoundError') return new SwitchyardError('UNAUTHENTICATED', 'invalid token: it is signed with a key the identity provider does not publish');
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'ECONNABORTED'].includes(code) || /timeout|socket hang up|ECONNREFUSED/i.test(msg) || (name === 'JwksError' && !/key/i.test(msg))) {
    return new ProviderUnavailableError('identity provider (AUTH_JWKS_URL)', e);
  }
  return new SwitchyardError('UNAUTHENTICATED', `invalid token: ${msg}`);
}

/** Every GraphQL operation needs a verified caller; @Roles adds a role check. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly auth: Authenticator,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = request(ctx);
    // Kept for the request (HTTP) or the connection (graphql-ws), until its token expires.
    if (!req.caller || (req.caller.expiresAt !== undefined && req.caller.expiresAt * 1000 <= Date.now())) req.caller = await this.auth.caller(authorizationOf(req));
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
