import { assertCollectionName, fitIdentifier, quoteIdent } from './identifiers';
import { compareIds } from './vector-db.port';

describe('derived identifiers', () => {
  it('keeps names that fit in 63 bytes and hash-suffixes longer ones so they stay distinct', () => {
    expect(fitIdentifier('vector_embeddings_embedding_hnsw')).toBe('vector_embeddings_embedding_hnsw');
    const base = 'c'.repeat(64);
    const [a, b] = [fitIdentifier(`${base}_alpha_embedding_hnsw`), fitIdentifier(`${base}_beta_embedding_hnsw`)];
    expect(a).not.toBe(b);
    for (const n of [a, b]) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
    expect(fitIdentifier(`${base}_alpha_embedding_hnsw`)).toBe(a); // stable
    expect(fitIdentifier('x'.repeat(63))).toBe('x'.repeat(63));
    expect(fitIdentifier('x'.repeat(64))).not.toBe('x'.repeat(63));
  });

  it('cuts multi-byte names on a character boundary', () => {
    const n = fitIdentifier('é'.repeat(40));
    expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
    expect(Buffer.from(n, 'utf8').toString('utf8')).toBe(n);
    expect(n).toMatch(/^é+_[0-9a-f]{12}$/);
  });

  it('quotes identifiers, doubling embedded double quotes, and refuses NUL', () => {
    expect(quoteIdent('plain')).toBe('"plain"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(() => quoteIdent('a\u0000b')).toThrow();
  });

  it('refuses collection names a driver cannot hold, with CONFIG_INVALID naming the name', () => {
    for (const p of ['sqlite-vec', 'pgvector', 'chromadb'] as const) {
      for (const bad of ['', 'a"b', 'x y', 'a;b', 'x'.repeat(256)]) {
        expect(() => assertCollectionName(p, bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
      }
    }
    expect(() => assertCollectionName('pgvector', 'switchyard_vector_meta')).toThrow(/meta table/);
    expect(() => assertCollectionName('sqlite-vec', 'sqlite_stuff')).toThrow(/reserved by SQLite/);
    expect(() => assertCollectionName('chromadb', '_x')).toThrow(/starting and ending with a letter or digit/);
    for (const ok of ['vector_embeddings', '_private', 'X1']) expect(() => assertCollectionName('pgvector', ok)).not.toThrow();
    for (const ok of ['docs-2024.v1', 'abc']) expect(() => assertCollectionName('chromadb', ok)).not.toThrow();
  });

  it('orders ids by UTF-8 bytes (code points), not UTF-16 code units', () => {
    const ids = ['b', 'a', '😀', '\uE000', 'é', 'ab', ''];
    const bytes = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...ids].sort(compareIds)).toEqual(bytes);
    expect(bytes).toEqual(['', 'a', 'ab', 'b', 'é', '\uE000', '😀']);
  });
});
