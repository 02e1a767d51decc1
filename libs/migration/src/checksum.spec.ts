import { mkdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { freshDir } from '../../../test/support/services';
import { createRelationalDb, DocumentEntity, UserEntity } from '@switchyard/relational-db';
import { canonical, Checksum, hash64, recordFieldsHash, rowHash, vectorHash } from './checksum';
import { resolveDataPath } from './ndjson';

describe('checksums', () => {
  it('serialise canonically: sorted keys, dates as ISO, undefined as null', () => {
    const a = { b: 1, a: { y: [1, { q: true, p: null }], x: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)) }, u: undefined };
    const b = { u: null, a: { x: '2024-01-02T03:04:05.006Z', y: [1, { p: null, q: true }] }, b: 1 };
    expect(JSON.stringify(canonical(a))).toBe(JSON.stringify(canonical(b)));
  });

  it('are independent of order and sensitive to every record', () => {
    const hashes = ['a', 'b', 'c', 'd'].map((s) => hash64(s));
    const one = new Checksum();
    const two = new Checksum();
    hashes.forEach((h) => one.add(h));
    [...hashes].reverse().forEach((h) => two.add(h));
    expect(one.hex).toBe(two.hex);
    expect(one.count).toBe(4);
    const three = new Checksum();
    hashes.slice(1).forEach((h) => three.add(h));
    three.add(hash64('e'));
    expect(three.hex).not.toBe(one.hex);
  });

  it('hash rows to the values recorded with earlier backups (a restore compares against them)', async () => {
    const d = freshDir('sy-golden-');
    const db = createRelationalDb({ provider: 'sqlite', database: d.file('g.sqlite'), logging: false });
    await db.init();
    try {
      // Pinned with the implementation before rows were hashed as one string (2026-12-01): the bytes hashed must not change.
      const doc = { id: 'd-1', user_id: 'u-1', external_id: 'doc \u00fc \u{1F680}', title: null, content: 'Hello\0world \u00e9', content_bytes: 17, chunk_count: 3, version: 2, metadata: { b: [1, 2.5, { z: true, a: null }], a: 'x' }, embedding_model: 'm', indexed_at: new Date(Date.UTC(2024, 1, 3, 4, 5, 6, 7)), created_at: new Date(Date.UTC(2024, 0, 1)), updated_at: new Date(Date.UTC(2024, 0, 2)) };
      const user = { id: 'u-1', email: null, display_name: 'Zo\u00eb', roles: ['admin'], active: true, created_at: new Date(Date.UTC(2024, 0, 1)), updated_at: new Date(Date.UTC(2024, 0, 1)) };
      expect(rowHash(db.table(DocumentEntity), doc).toString(16)).toBe('819ec4749bfbb0fb');
      expect(rowHash(db.table(UserEntity), user).toString(16)).toBe('b80123cc4c65496c');
      expect(rowHash(db.table(UserEntity), { ...user, display_name: 'Zoe' }).toString(16)).not.toBe('b80123cc4c65496c');
    } finally {
      await db.close();
      d.remove();
    }
  });

  it('hash vectors by their exact float32 bytes', () => {
    const r = { id: 'x', userId: 'u', documentId: 'd', chunkIndex: 0, content: 'c', metadata: { k: 1 }, embedding: Float32Array.from([0.1, 0.2]) };
    const nudged = { ...r, embedding: Float32Array.from([0.1, 0.2]) };
    nudged.embedding[1] = Math.fround(0.2) + 2 ** -26;
    expect(vectorHash(r)).toBe(vectorHash({ ...r, embedding: Float32Array.from([0.1, 0.2]) }));
    expect(vectorHash(r)).not.toBe(vectorHash(nudged));
    expect(recordFieldsHash(r)).toBe(recordFieldsHash(nudged));
  });
});

describe('data dir confinement', () => {
  const d = freshDir('sy-mig-paths-');
  const root = path.join(d.dir, 'data');
  mkdirSync(path.join(root, 'sub'), { recursive: true });
  mkdirSync(path.join(d.dir, 'elsewhere'));
  symlinkSync(path.join(d.dir, 'elsewhere'), path.join(root, 'escape'));
  afterAll(() => d.remove());

  it.each(['x.ndjson', 'sub/x.ndjson', 'new/dir/x.ndjson', path.join(root, 'sub', 'abs.ndjson')])('accepts %s', (p) => {
    expect(resolveDataPath(root, p).full.startsWith(root + path.sep)).toBe(true);
  });

  it.each(['', '../x', 'sub/../../x', '/etc/passwd', path.join(d.dir, 'elsewhere', 'x'), 'escape/x.ndjson', 'a\0b', '.'])('refuses %j with BAD_INPUT', (p) => {
    expect(() => resolveDataPath(root, p)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
  });
});
