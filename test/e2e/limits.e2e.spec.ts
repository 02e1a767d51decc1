import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { SECRET, startApp, TestApp } from '../support/app';

const INTROSPECT = '{ __schema { types { name } } }';

/** Subscribes once over graphql-ws; resolves with the errors (or the close) it ends with. */
function overWs(t: TestApp, query: string, token?: string): Promise<{ errors?: unknown[]; data?: unknown; closed?: number }> {
  const client = createClient({ url: t.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: token ? { authorization: `Bearer ${token}` } : {}, retryAttempts: 0, lazy: true });
  return new Promise((resolve) => {
    let result: { errors?: unknown[]; data?: unknown } = {};
    client.subscribe(
      { query },
      {
        next: (r) => (result = r as typeof result),
        error: (e) => {
          void client.dispose();
          const code = (e as { code?: number }).code;
          resolve(Array.isArray(e) ? { errors: e } : code ? { closed: code } : { errors: [e] });
        },
        complete: () => {
          void client.dispose();
          resolve(result);
        },
      },
    );
  });
}

/**
 * The limits of one GraphQL operation (depth, aliases, cost; documents a page at a time), over HTTP and
 * graphql-ws, and what production hides: introspection, "Did you mean" hints, the schema over
 * graphql-ws without a valid token.
 */
describe.each(['development', 'production'] as const)('GraphQL operation limits (%s)', (env) => {
  let t: TestApp;
  let alice: string;

  beforeAll(async () => {
    t = await startApp('sqlite+sqlite-vec', { NODE_ENV: env, GRAPHQL_MAX_PAGE: '3', GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_COST: '100' });
    alice = t.token('alice');
    for (let i = 0; i < 5; i++) {
      const r = await t.gql(`mutation { indexDocument(input: { documentId: "d${i}", content: "Document ${i} about airplanes." }) { id } }`, {}, alice);
      expect(r.errors).toBeUndefined();
    }
  });

  afterAll(async () => {
    await t?.close();
  });

  it('refuses an operation with more aliases than GRAPHQL_MAX_ALIASES before running any of it', async () => {
    const many = Array.from({ length: 50 }, (_, i) => `a${i}: indexDocument(input: { documentId: "alias-${i}", content: "x" }) { id }`).join('\n');
    const r = await t.gql(`mutation { ${many} }`, {}, alice);
    expect(r.errors?.[0].message).toMatch(/aliases.*GRAPHQL_MAX_ALIASES/i);
    expect(r.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const docs = await t.gql<{ documents: { id: string }[] }>('{ documents(first: 3, after: "alias") { id } }', {}, alice);
    expect(docs.data!.documents.filter((d) => d.id.startsWith('alias-'))).toEqual([]); // none written
  });

  it('refuses a query deeper than GRAPHQL_MAX_DEPTH and one costlier than GRAPHQL_MAX_COST', async () => {
    const costly = Array.from({ length: 9 }, (_, i) => `d${i}: documents { id title content chunkCount contentBytes embeddingModel indexedAt createdAt updatedAt }`).join(' ');
    const r = await t.gql(`{ ${costly} }`, {}, alice);
    expect(r.errors?.[0].message).toMatch(/cost.*GRAPHQL_MAX_COST/i);
    expect(r.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const deep = await t.gql('{ migrations { progress { live { rounds } } } }', {}, alice);
    expect(deep.errors?.[0].message).toMatch(/depth.*GRAPHQL_MAX_DEPTH/i);
    expect(deep.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('pages documents (first/after, at most GRAPHQL_MAX_PAGE) and reads the text only when asked', async () => {
    const p1 = await t.gql<{ documents: { id: string }[] }>('{ documents { id } }', {}, alice);
    expect(p1.data!.documents.map((d) => d.id)).toEqual(['d0', 'd1', 'd2']);
    const p2 = await t.gql<{ documents: { id: string; content: string }[] }>('{ documents(first: 3, after: "d2") { id content } }', {}, alice);
    expect(p2.data!.documents).toEqual([
      { id: 'd3', content: 'Document 3 about airplanes.' },
      { id: 'd4', content: 'Document 4 about airplanes.' },
    ]);
    const tooMany = await t.gql('{ documents(first: 4) { id } }', {}, alice);
    expect(tooMany.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });

  it('over graphql-ws: the same limits; in production no schema without a valid token', async () => {
    const many = Array.from({ length: 50 }, (_, i) => `a${i}: documents { id }`).join(' ');
    const aliased = await overWs(t, `{ ${many} }`, alice);
    expect(JSON.stringify(aliased)).toMatch(/aliases/i);
    const anonymous = await overWs(t, INTROSPECT);
    const withToken = await overWs(t, INTROSPECT, alice);
    if (env === 'production') {
      expect(anonymous.closed).toBe(4403);
      expect(JSON.stringify(withToken)).toMatch(/introspection/i);
    } else {
      expect(JSON.stringify(anonymous)).not.toMatch(/4403/);
    }
  });

  it('a graphql-ws connection stops being served once its token expires', async () => {
    const jwt = await import('jsonwebtoken');
    const now = Math.floor(Date.now() / 1000);
    const short = jwt.sign({ sub: 'alice', roles: [], iat: now, exp: now + 2 }, SECRET, { algorithm: 'HS256' });
    const client = createClient({ url: t.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${short}` }, retryAttempts: 0, lazy: false });
    const once = () =>
      new Promise<{ errors?: { extensions?: { code?: string } }[] }>((resolve) => {
        let got: { errors?: { extensions?: { code?: string } }[] } = {};
        client.subscribe({ query: '{ documents(first: 1) { id } }' }, { next: (r) => (got = r as typeof got), error: (e) => resolve(Array.isArray(e) ? { errors: e } : { errors: [{ extensions: { code: String(e) } }] }), complete: () => resolve(got) });
      });
    try {
      expect((await once()).errors).toBeUndefined();
      await new Promise((r) => setTimeout(r, 3100));
      expect((await once()).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      await client.dispose();
    }
  });

  it(env === 'production' ? 'hides introspection and "Did you mean" hints over HTTP' : 'allows introspection and hints in development', async () => {
    const schema = await t.gql(INTROSPECT, {}, alice);
    const typo = await t.gql('{ documnts { id } }', {}, alice);
    if (env === 'production') {
      expect(schema.errors?.[0].message).toMatch(/introspection/i);
      expect(typo.errors?.[0].message).not.toMatch(/Did you mean/);
    } else {
      expect(schema.errors).toBeUndefined();
      expect(typo.errors?.[0].message).toMatch(/Did you mean "documents"/);
    }
  });
});
