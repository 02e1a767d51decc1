import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freshDir } from '../../../test/support/services';
import { ExportHeader, NdjsonWriter, readHeader, readLines, recordCount, resolveDataPath } from './ndjson';

/** Real files in a temp dir: `data/` is the data dir, `outside/` is anything an attacker would like to reach. */
const HEADER: ExportHeader = { format: 'switchyard-ndjson', version: 1, kind: 'VECTORS', createdAt: '2024-01-01T00:00:00.000Z', source: 'spec' };
const d = freshDir('sy-ndjson-');
const root = path.join(d.dir, 'data');
const outside = path.join(d.dir, 'outside');
const secret = path.join(outside, 'secret.ndjson');
const SECRET = `${JSON.stringify(HEADER)}\n{"secret":true}\n`;
afterAll(() => d.remove());

beforeAll(() => {
  mkdirSync(path.join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(secret, SECRET);
});

async function all(file: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const { value } of readLines(file)) out.push(value);
  return out;
}

async function written(file: string, records: unknown[]) {
  const w = new NdjsonWriter(file);
  await w.open(HEADER);
  await w.write(records);
  return w.commit();
}

describe('data dir paths refuse symbolic links', () => {
  it('refuses a file symlink to /etc/passwd by name, and reading it even when the check was passed (O_NOFOLLOW)', async () => {
    const link = path.join(root, 'passwd.ndjson');
    symlinkSync('/etc/passwd', link);
    expect(() => resolveDataPath(root, 'passwd.ndjson')).toThrow(expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringContaining(link) }));
    // A link swapped in after resolveDataPath: the read itself must not follow it.
    await expect(all(link)).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining(link) });
    await expect(readHeader(link)).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('refuses a file symlink to a valid export outside the dir, and a dangling one', async () => {
    symlinkSync(secret, path.join(root, 'sub', 'looks-fine.ndjson'));
    symlinkSync(path.join(outside, 'not-yet.ndjson'), path.join(root, 'dangling.ndjson'));
    expect(() => resolveDataPath(root, 'sub/looks-fine.ndjson')).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    expect(() => resolveDataPath(root, 'dangling.ndjson')).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    await expect(all(path.join(root, 'sub', 'looks-fine.ndjson'))).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('refuses a symlinked folder, leading outside or not', () => {
    symlinkSync(outside, path.join(root, 'escape'));
    symlinkSync(path.join(root, 'sub'), path.join(root, 'alias'));
    for (const p of ['escape/secret.ndjson', 'escape/new.ndjson', 'escape/new/dir/x.ndjson', 'alias/x.ndjson']) {
      expect(() => resolveDataPath(root, p)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    }
  });

  it('refuses a folder or other non-file where a file is named', async () => {
    expect(() => resolveDataPath(root, 'sub')).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    await expect(all(path.join(root, 'sub'))).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(all(path.join(root, 'missing.ndjson'))).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('does not exist') });
  });

  it('still accepts plain files and new paths, and a data dir that is itself a link', async () => {
    await written(path.join(root, 'sub', 'plain.ndjson'), [{ a: 1 }]);
    expect(resolveDataPath(root, 'sub/plain.ndjson').full).toBe(path.join(root, 'sub', 'plain.ndjson'));
    expect(resolveDataPath(root, 'new/dir/x.ndjson').relative).toBe(path.join('new', 'dir', 'x.ndjson'));
    const linkedRoot = path.join(d.dir, 'data-link');
    symlinkSync(root, linkedRoot);
    expect(resolveDataPath(linkedRoot, 'sub/plain.ndjson').full).toBe(path.join(linkedRoot, 'sub', 'plain.ndjson'));
    expect(await all(path.join(linkedRoot, 'sub', 'plain.ndjson'))).toEqual([HEADER, { a: 1 }]);
  });

  it('refuses a planted <file>.partial symlink: nothing is written through it and its target is kept', async () => {
    const file = path.join(root, 'export.ndjson');
    symlinkSync(secret, `${file}.partial`);
    const w = new NdjsonWriter(file);
    await expect(w.open(HEADER)).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining(`${file}.partial`) });
    expect(readFileSync(secret, 'utf8')).toBe(SECRET);
    expect(lstatSync(`${file}.partial`).isSymbolicLink()).toBe(true);
    expect(readlinkSync(`${file}.partial`)).toBe(secret);
    expect(existsSync(file)).toBe(false);
  });

  it('replaces a stale plain .partial left by a crash', async () => {
    const file = path.join(root, 'stale.ndjson');
    writeFileSync(`${file}.partial`, 'half a line from a crashed run');
    await written(file, [{ n: 1 }, { n: 2 }]);
    expect(await all(file)).toEqual([HEADER, { n: 1 }, { n: 2 }]);
    expect(existsSync(`${file}.partial`)).toBe(false);
  });
});

describe('NdjsonWriter commit', () => {
  it('returns the records and bytes of the committed file, which match what is on disk', async () => {
    const file = path.join(root, 'counted.ndjson');
    const records = Array.from({ length: 2500 }, (_, i) => ({ id: `r${i}`, text: 'é'.repeat(i % 7) }));
    const w = new NdjsonWriter(file);
    await w.open(HEADER);
    await w.write(records.slice(0, 1000));
    expect(w.records).toBe(1000);
    await w.write(records.slice(1000));
    const c = await w.commit();
    expect(c).toEqual({ records: 2500, bytes: statSync(file).size });
    expect(await recordCount(file)).toBe(2500);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(2501);
    expect(existsSync(`${file}.partial`)).toBe(false);
  });

  it('commits an empty dataset as a header-only file with 0 records', async () => {
    const file = path.join(root, 'empty.ndjson');
    expect(await written(file, [])).toMatchObject({ records: 0 });
    expect(await recordCount(file)).toBe(0);
    expect(await readHeader(file)).toEqual(HEADER);
  });

  it.each([
    ['flush', [{ a: 1 }]],
    // A record over the 1 MiB buffer is written at once, so commit() has nothing left to flush: only fsync runs.
    ['fsync', [{ big: 'x'.repeat(1 << 20) }]],
  ])('surfaces a failing %s as an error and does not rename the file into place', async (_, records) => {
    const file = path.join(root, `broken-${_}.ndjson`);
    const w = new NdjsonWriter(file);
    await w.open(HEADER);
    await w.write(records);
    // The descriptor goes away under the writer (as on an I/O error): commit() must fail loudly.
    await (w as unknown as { handle: { close(): Promise<void> } }).handle.close();
    await expect(w.commit()).rejects.toThrow(/EBADF|closed/);
    expect(existsSync(file)).toBe(false);
    await w.abort();
    expect(existsSync(`${file}.partial`)).toBe(false);
  });

  it('refuses to be used after commit or abort', async () => {
    const file = path.join(root, 'once.ndjson');
    const w = new NdjsonWriter(file);
    await w.open(HEADER);
    await w.commit();
    await expect(w.write([{ a: 1 }])).rejects.toThrow(/not open/);
    await expect(w.commit()).rejects.toThrow(/not open/);
    const a = new NdjsonWriter(path.join(root, 'aborted.ndjson'));
    await a.open(HEADER);
    await a.write([{ a: 1 }]);
    await a.abort();
    expect(existsSync(path.join(root, 'aborted.ndjson.partial'))).toBe(false);
    expect(existsSync(path.join(root, 'aborted.ndjson'))).toBe(false);
    await expect(a.write([{ a: 1 }])).rejects.toThrow(/not open/);
  });
});
