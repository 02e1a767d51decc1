import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { makeRecords } from '../testing/records';
import { createVectorDb } from '../vector-db.factory';
import { VectorRecord } from '../vector-db.types';
import { freshDir } from '../../../../test/support/services';

const DIMS = 8;
const open = (path: string, model: string | null = null, collection = 'vector_embeddings') => createVectorDb({ provider: 'sqlite-vec', path, dimensions: DIMS, collection }, model);
const fingerprint = (file: string) => ({ sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), mtimeMs: statSync(file).mtimeMs, size: statSync(file).size });
const journalMode = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('journal_mode', { simple: true });
  } finally {
    db.close();
  }
};

describe('sqlite-vec: a source opened with createIfMissing: false writes nothing', () => {
  const dir = freshDir();
  afterAll(() => dir.remove());

  it('a missing file is NOT_FOUND naming the path, and neither the file nor its folder is created', async () => {
    const file = dir.file('no/such/folder/vectors.sqlite');
    const db = open(file);
    await expect(db.init({ createIfMissing: false })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(file) });
    await db.close();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(dir.file('no'))).toBe(false);
  });

  it('a source file keeps its journal mode, bytes and mtime through init, describe, count, scan and identity', async () => {
    const file = dir.file('source.sqlite');
    const writer = open(file, 'model-a');
    await writer.init();
    const recs = makeRecords(25, DIMS, { seed: 3 });
    await writer.upsert(recs);
    await writer.close();
    // As a source often is: a file in rollback-journal mode (the app's own file may be WAL).
    const raw = new Database(file);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const before = fingerprint(file);
    expect(journalMode(file)).toBe('delete');

    const source = open(file);
    await source.init({ createIfMissing: false });
    expect(await source.describe()).toMatchObject({ storedModel: 'model-a', storedDimensions: DIMS, count: 25 });
    const seen: VectorRecord[] = [];
    for await (const page of source.scan(10)) seen.push(...page);
    expect(seen.map((r) => r.id)).toEqual(recs.map((r) => r.id));
    expect(await source.identity()).toMatch(/^sqlite-vec:\d+:\d+:vector_embeddings$/);
    await source.close();

    expect(journalMode(file)).toBe('delete');
    expect(fingerprint(file)).toEqual(before);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('a SQLite file without Switchyard tables is NOT_FOUND and is left unchanged (no meta table made)', async () => {
    const file = dir.file('plain.sqlite');
    const raw = new Database(file);
    raw.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    raw.close();
    const before = fingerprint(file);
    const db = open(file);
    await expect(db.init({ createIfMissing: false })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('vector_embeddings') });
    await db.close();
    expect(fingerprint(file)).toEqual(before);
    const check = new Database(file, { readonly: true });
    expect(check.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all()).toEqual([{ name: 'notes' }]);
    check.close();
  });

  it('an in-memory store cannot be a source, and two in-memory stores have different identities', async () => {
    await expect(open(':memory:').init({ createIfMissing: false })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const a = open(':memory:', 'm');
    const b = open(':memory:', 'm');
    await a.init();
    await b.init();
    expect(await a.identity()).not.toBe(await b.identity());
    expect(await a.identity()).toBe(await a.identity());
    await a.close();
    await b.close();
  });

  it('collections named like SQL keywords work (every identifier is quoted)', async () => {
    const file = dir.file('keywords.sqlite');
    for (const name of ['select', 'order', 'Group_By']) {
      const db = open(file, 'm', name);
      await db.init();
      await db.upsert(makeRecords(3, DIMS, { seed: 4, prefix: name }));
      expect(await db.count()).toBe(3);
      await db.reset();
      expect(await db.count()).toBe(0);
      await db.close();
    }
  });
});
