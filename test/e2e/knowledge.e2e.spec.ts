import { VectorDb } from '@switchyard/vector-db';
import jwt from 'jsonwebtoken';
import { SECRET, Stack, startApp, TestApp } from '../support/app';

const INDEX = `mutation($input: IndexDocumentInput!) { indexDocument(input: $input) { id title chunkCount contentBytes embeddingModel indexedAt } }`;
const SEARCH = `query($q: String!, $limit: Int) { searchKnowledge(query: $q, limit: $limit) { documentId content score chunkIndex } }`;
const DOCS = `{ documents { id title content chunkCount } }`;
const DELETE = `mutation($id: ID!) { deleteDocument(id: $id) }`;
const ANSWER = `query($q: String!) { answerQuestion(question: $q) { text grounded sources { documentId content score } } }`;

const CAR = 'The mechanic repaired the car engine and replaced the brakes before the long trip.';
const DOG = 'My puppy loves to play fetch in the park with other dogs every morning.';
const DOCTOR = 'The doctor examined the patient at the hospital and prescribed medicine.';

describe.each<Stack>(['sqlite+sqlite-vec', 'postgres+pgvector', 'sqlite+chromadb'])('GraphQL knowledge API over %s', (stack) => {
  let t: TestApp;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    t = await startApp(stack);
    alice = t.token('alice');
    bob = t.token('bob');
  });
  afterAll(async () => t?.close());

  it('refuses a token that never expires or lives longer than AUTH_MAX_TOKEN_SECONDS', async () => {
    const forever = jwt.sign({ sub: 'alice', roles: [] }, SECRET, { algorithm: 'HS256' });
    const tooLong = jwt.sign({ sub: 'alice', roles: [] }, SECRET, { algorithm: 'HS256', expiresIn: '30d' });
    const now = Math.floor(Date.now() / 1000);
    // issued "in the future" to stretch the lifetime: counted from now
    const futureIat = jwt.sign({ sub: 'alice', roles: [], iat: now + 30 * 86_400, exp: now + 30 * 86_400 + 3600 }, SECRET, { algorithm: 'HS256' });
    for (const [token, why] of [[forever, /no exp claim/], [tooLong, /at most 86400 s/], [futureIat, /at most 86400 s/]] as const) {
      const r = await t.gql(DOCS, {}, token);
      expect(r.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      expect(r.errors?.[0].message).toMatch(why);
    }
    expect((await t.gql(DOCS, {}, jwt.sign({ sub: 'alice', roles: [] }, SECRET, { algorithm: 'HS256', expiresIn: '1h' }))).errors).toBeUndefined();
  });

  it('refuses calls without a valid bearer token', async () => {
    for (const token of [null, 'not-a-jwt', jwt.sign({ sub: 'alice' }, 'another-secret-another-secret-1234', { algorithm: 'HS256' }), jwt.sign({ roles: [] }, 'x'.repeat(10))]) {
      const r = await t.gql(DOCS, {}, token);
      expect(r.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      expect(r.data ?? null).toBeNull();
    }
  });

  it('indexes, lists and searches a user’s documents', async () => {
    const a = await t.gql<{ indexDocument: { id: string; chunkCount: number; embeddingModel: string; indexedAt: string } }>(INDEX, { input: { documentId: 'cars', title: 'Cars', content: CAR } }, alice);
    expect(a.errors).toBeUndefined();
    expect(a.data!.indexDocument).toMatchObject({ id: 'cars', chunkCount: 1, embeddingModel: 'switchyard-test-mini' });
    expect(a.data!.indexDocument.indexedAt).toBeTruthy();
    await t.gql(INDEX, { input: { documentId: 'dogs', content: DOG } }, alice);
    await t.gql(INDEX, { input: { documentId: 'medicine', content: DOCTOR } }, alice);
    const generated = await t.gql<{ indexDocument: { id: string } }>(INDEX, { input: { content: 'An untitled note about a big house.' } }, alice);
    expect(generated.data!.indexDocument.id).toMatch(/^[0-9a-f-]{36}$/);

    const docs = await t.gql<{ documents: Array<{ id: string }> }>(DOCS, {}, alice);
    expect(docs.data!.documents.map((d) => d.id).sort()).toEqual(['cars', 'dogs', generated.data!.indexDocument.id, 'medicine'].sort());

    const hits = await t.gql<{ searchKnowledge: Array<{ documentId: string; score: number }> }>(SEARCH, { q: 'automobile motor fixed by a technician', limit: 3 }, alice);
    expect(hits.errors).toBeUndefined();
    expect(hits.data!.searchKnowledge[0].documentId).toBe('cars');
    expect(hits.data!.searchKnowledge).toHaveLength(3);
    const scores = hits.data!.searchKnowledge.map((h) => h.score);
    expect([...scores].sort((x, y) => y - x)).toEqual(scores);
    const vet = await t.gql<{ searchKnowledge: Array<{ documentId: string }> }>(SEARCH, { q: 'physician treating a sick person', limit: 1 }, alice);
    expect(vet.data!.searchKnowledge[0].documentId).toBe('medicine');
  });

  it('keeps users apart: B cannot see, search or delete A’s documents, even with the same documentId', async () => {
    await t.gql(INDEX, { input: { documentId: 'cars', content: 'Bob writes about cooking pasta and tomato sauce.' } }, bob);
    const bobDocs = await t.gql<{ documents: Array<{ id: string; content: string }> }>(DOCS, {}, bob);
    expect(bobDocs.data!.documents).toEqual([expect.objectContaining({ id: 'cars', content: 'Bob writes about cooking pasta and tomato sauce.' })]);
    const bobHits = await t.gql<{ searchKnowledge: Array<{ content: string }> }>(SEARCH, { q: CAR, limit: 10 }, bob);
    expect(bobHits.data!.searchKnowledge.length).toBe(1);
    expect(bobHits.data!.searchKnowledge[0].content).toContain('pasta');
    const del = await t.gql<{ deleteDocument: boolean }>(DELETE, { id: 'dogs' }, bob);
    expect(del.data!.deleteDocument).toBe(false);
    expect((await t.gql<{ documents: unknown[] }>(DOCS, {}, alice)).data!.documents).toHaveLength(4);
    expect((await t.gql<{ deleteDocument: boolean }>(DELETE, { id: 'cars' }, bob)).data!.deleteDocument).toBe(true);
    const aliceCar = await t.gql<{ searchKnowledge: Array<{ documentId: string; content: string }> }>(SEARCH, { q: CAR, limit: 1 }, alice);
    expect(aliceCar.data!.searchKnowledge[0]).toMatchObject({ documentId: 'cars', content: CAR });
    expect((await t.gql<{ searchKnowledge: unknown[] }>(SEARCH, { q: CAR, limit: 10 }, bob)).data!.searchKnowledge).toEqual([]);
  });

  it('re-indexing a long document with a short one leaves no stale chunk', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} talks about the fast train and the quick car on the big road.`).join('\n\n');
    const first = await t.gql<{ indexDocument: { chunkCount: number } }>(INDEX, { input: { documentId: 'long', content: long } }, alice);
    expect(first.data!.indexDocument.chunkCount).toBeGreaterThan(5);
    const vectors = t.app.get(VectorDb);
    expect(await vectors.count({ userId: 'alice', documentId: 'long' })).toBe(first.data!.indexDocument.chunkCount);
    const short = await t.gql<{ indexDocument: { chunkCount: number } }>(INDEX, { input: { documentId: 'long', content: 'Now it is only about a happy dog.' } }, alice);
    expect(short.data!.indexDocument.chunkCount).toBe(1);
    expect(await vectors.count({ userId: 'alice', documentId: 'long' })).toBe(1);
    const hits = await t.gql<{ searchKnowledge: Array<{ documentId: string; content: string }> }>(SEARCH, { q: 'fast train', limit: 50 }, alice);
    expect(hits.data!.searchKnowledge.filter((h) => h.documentId === 'long').map((h) => h.content)).toEqual(['Now it is only about a happy dog.']);
  });

  it('answers with sources from the LLM, and says so when nothing relevant is stored', async () => {
    t.ollama.setReply((call) => `Per [1]: ${call.prompt.includes(CAR) ? 'the car was repaired' : 'no idea'}`);
    const r = await t.gql<{ answerQuestion: { text: string; grounded: boolean; sources: Array<{ documentId: string }> } }>(ANSWER, { q: 'What happened to the automobile?' }, alice);
    expect(r.errors).toBeUndefined();
    expect(r.data!.answerQuestion.text).toBe('Per [1]: the car was repaired');
    expect(r.data!.answerQuestion.grounded).toBe(true);
    expect(r.data!.answerQuestion.sources[0].documentId).toBe('cars');
    expect(t.ollama.lastCall().system).toMatch(/only the numbered context/);
    const calls = t.ollama.calls.length;
    const none = await t.gql<{ answerQuestion: { text: string; grounded: boolean; sources: unknown[] } }>(ANSWER, { q: 'What is the capital of France?' }, t.token('carol'));
    expect(none.data!.answerQuestion).toMatchObject({ grounded: false, sources: [] });
    expect(none.data!.answerQuestion.text).toMatch(/couldn't find anything/);
    expect(t.ollama.calls.length).toBe(calls);
  });

  it('rejects bad input with BAD_USER_INPUT naming the field, and writes nothing', async () => {
    const before = (await t.gql<{ documents: unknown[] }>(DOCS, {}, alice)).data!.documents.length;
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [INDEX, { input: { documentId: 'empty', content: '   ' } }, 'content'],
      [INDEX, { input: { documentId: 'huge', content: 'x'.repeat(200_001) } }, 'content'],
      [SEARCH, { q: 'car', limit: 0 }, 'limit'],
      [SEARCH, { q: 'car', limit: 10_000 }, 'limit'],
      [SEARCH, { q: '  ', limit: 5 }, 'query'],
      // what PostgreSQL cannot hold (was INTERNAL there) or a driver would change silently: refused on every provider
      [INDEX, { input: { documentId: 'nul', content: 'before\u0000after' } }, 'content'],
      [INDEX, { input: { documentId: 'nul\u0000id', content: 'fine text' } }, 'documentId'],
      [INDEX, { input: { documentId: 'surrogate', content: 'fine text', title: 'half a pair \ud83d here' } }, 'title'],
      [INDEX, { input: { documentId: 'surrogate2', content: 'lone low \udc00 surrogate' } }, 'content'],
    ];
    for (const [q, vars, field] of cases) {
      const r = await t.gql(q, vars, alice);
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(r.errors?.[0].message).toContain(field);
    }
    // a token whose sub cannot be a user id
    for (const sub of ['x'.repeat(300), 'nul\u0000sub', 'lone \ud800']) {
      const r = await t.gql(DOCS, {}, t.token(sub));
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'sub' });
    }
    // a well-formed pair (an emoji) is fine
    const ok = await t.gql(INDEX, { input: { documentId: 'emoji', content: 'a rocket \ud83d\ude80 in the text', title: '\ud83d\ude80' } }, alice);
    expect(ok.errors).toBeUndefined();
    await t.gql(DELETE, { id: 'emoji' }, alice);
    expect((await t.gql<{ documents: unknown[] }>(DOCS, {}, alice)).data!.documents.length).toBe(before);
  });

  it('reports a provider outage as an error naming the provider, not an empty result', async () => {
    t.ollama.setOutage({ status: 500, error: 'out of memory' });
    const r = await t.gql(ANSWER, { q: 'What happened to the automobile?' }, alice);
    expect(r.errors?.[0].extensions?.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.errors?.[0].message).toMatch(/ollama/);
    const status = await t.gql<{ providers: { llm: { reachable: boolean } } }>(`{ providers { llm { reachable } } }`, {}, alice);
    expect(status.data!.providers.llm.reachable).toBe(false);
    t.ollama.setOutage(null);
  });

  it('shows where the stores are only to admins', async () => {
    const q = `{ providers { relational { location } vector { location } } }`;
    const user = await t.gql<{ providers: { relational: { location: string | null }; vector: { location: string | null } } }>(q, {}, alice);
    expect(user.errors).toBeUndefined();
    expect(user.data!.providers).toEqual({ relational: { location: null }, vector: { location: null } });
    const admin = await t.gql<{ providers: { relational: { location: string | null }; vector: { location: string | null } } }>(q, {}, t.token('ops', ['admin']));
    expect(admin.data!.providers.relational.location).toMatch(/^(sqlite:|postgres:\/\/)/);
    expect(admin.data!.providers.vector.location).toEqual(expect.any(String));
  });

  it('reports the active providers, model and dimensions', async () => {
    const r = await t.gql<{ providers: Record<string, Record<string, unknown>> }>(
      `{ providers { relational { provider reachable } vector { provider reachable dimensions storedModel count mismatch } embeddings { provider model dimensions reachable } llm { provider model reachable } } }`,
      {},
      alice,
    );
    expect(r.errors).toBeUndefined();
    const [rel, vec] = stack.split('+');
    expect(r.data!.providers.relational).toEqual({ provider: rel, reachable: true });
    expect(r.data!.providers.vector).toMatchObject({ provider: vec, reachable: true, dimensions: 32, storedModel: 'switchyard-test-mini', mismatch: null });
    expect(r.data!.providers.vector.count).toBeGreaterThan(0);
    expect(r.data!.providers.embeddings).toEqual({ provider: 'xenova', model: 'switchyard-test-mini', dimensions: 32, reachable: true });
    expect(r.data!.providers.llm).toEqual({ provider: 'ollama', model: 'llama3.2', reachable: true });
  });
});
