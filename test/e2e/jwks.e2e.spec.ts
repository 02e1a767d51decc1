import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { createServer, Server } from 'node:http';
import * as jwt from 'jsonwebtoken';
import { SECRET, startApp, TestApp } from '../support/app';

const ISSUER = 'https://idp.example.test/realms/app';
const AUDIENCE = 'switchyard';

/**
 * Tokens of an identity provider (AUTH_JWKS_URL): a local HTTP server publishes an RSA key as a JWKS, as
 * Keycloak or Auth0 do; the app verifies RS256 tokens with it, checks issuer, audience, expiry and
 * lifetime, reads roles from a nested claim, refuses HS256 tokens (even with the old secret), and says
 * PROVIDER_UNAVAILABLE when the provider does not answer for a key it has not cached.
 */
describe('identity provider tokens (JWKS, RS256)', () => {
  const idp = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let server: Server;
  let published: { keys: object[] };
  let t: TestApp;
  let fetches = 0;

  const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
  const sign = (claims: object, opts: { key?: KeyObject; kid?: string; audience?: string; issuer?: string; expiresIn?: number } = {}) =>
    jwt.sign({ sub: 'idp-user', realm_access: { roles: ['admin'] }, ...claims }, (opts.key ?? idp.privateKey).export({ format: 'pem', type: 'pkcs8' }) as string, {
      algorithm: 'RS256',
      keyid: opts.kid ?? 'k1',
      audience: opts.audience ?? AUDIENCE,
      issuer: opts.issuer ?? ISSUER,
      expiresIn: opts.expiresIn ?? 3600,
    });

  beforeAll(async () => {
    published = { keys: [jwk(idp.publicKey, 'k1')] };
    server = createServer((req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(published));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    t = await startApp('sqlite+sqlite-vec', { AUTH_JWKS_URL: `http://127.0.0.1:${port}/protocol/openid-connect/certs`, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_ROLES_CLAIM: 'realm_access.roles' });
  });

  afterAll(async () => {
    await t?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  const code = async (token: string, query = '{ documents { id } }') => {
    const r = await t.gql(query, {}, token);
    return r.errors?.[0]?.extensions?.code ?? 'OK';
  };

  it('accepts a token the provider signed, with the roles of a nested claim', async () => {
    expect(await code(sign({}))).toBe('OK');
    expect(await code(sign({}), '{ migrations { id } }')).toBe('OK'); // admin from realm_access.roles
    expect(await code(sign({ realm_access: { roles: [] } }), '{ migrations { id } }')).toBe('FORBIDDEN');
    expect(fetches).toBe(1); // the key is cached
  });

  it('refuses other issuers, audiences, keys, HS256 tokens and tokens that do not expire or live too long', async () => {
    const refused = [
      sign({}, { audience: 'someone-else' }),
      sign({}, { issuer: 'https://evil.example' }),
      sign({}, { key: other.privateKey }), // kid k1, but not the provider's signature
      jwt.sign({ sub: 'idp-user', exp: Math.floor(Date.now() / 1000) + 60, aud: AUDIENCE, iss: ISSUER }, SECRET, { algorithm: 'HS256' }),
      sign({}, { expiresIn: 400 * 86_400 }),
      jwt.sign({ sub: 'idp-user', aud: AUDIENCE, iss: ISSUER }, idp.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { algorithm: 'RS256', keyid: 'k1' }),
    ];
    for (const token of refused) expect(await code(token)).toBe('UNAUTHENTICATED');
  });

  it('made-up key ids cost at most one fetch and lock nobody out; a key the provider does not publish is UNAUTHENTICATED', async () => {
    const before = fetches;
    for (let i = 0; i < 20; i++) expect(await code(sign({}, { key: other.privateKey, kid: `random-${i}-${Math.random()}` }))).toBe('UNAUTHENTICATED');
    expect(fetches - before).toBeLessThanOrEqual(1);
    expect(await code(sign({}))).toBe('OK'); // the known key still works
  });

  it('a provider that does not answer is PROVIDER_UNAVAILABLE naming it', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const down = await startApp('sqlite+sqlite-vec', { AUTH_JWKS_URL: `http://127.0.0.1:${port}/certs`, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE });
    try {
      const r = await down.gql('{ documents { id } }', {}, sign({}));
      expect(r.errors?.[0]?.extensions?.code).toBe('PROVIDER_UNAVAILABLE');
      expect(r.errors?.[0]?.message).toMatch(/identity provider/);
    } finally {
      await down.close();
    }
  });
});
