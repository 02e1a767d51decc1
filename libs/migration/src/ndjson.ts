import { BadInputError } from '@switchyard/core';
import { constants, lstatSync, mkdirSync, renameSync, rmSync, Stats } from 'node:fs';
import { FileHandle, open } from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

/** Not defined on Windows (0 there: no protection at open; the lstat checks of resolveDataPath still apply). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** A FIFO planted under a file's name would block the open; with this the open returns and fstat refuses it. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

const linkRefusal = (file: string) =>
  new BadInputError('path', `${file} is a symbolic link; links are not followed in the migration data dir (MIGRATION_DATA_DIR): put the file itself there`);

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

/**
 * Resolves a user-given path inside the data dir. Refuses `..` segments, NUL bytes, anything outside the
 * data dir, and a symbolic link anywhere under it (a folder or the file itself, even one pointing inside),
 * with BAD_INPUT naming the link. The data dir itself may be a link (the operator chose it). Existing
 * paths must be regular files. Reads and writes open with O_NOFOLLOW as well, so a link swapped in after
 * this check still fails at the file itself.
 */
export function resolveDataPath(dataDir: string, p: string): { full: string; relative: string } {
  const root = path.resolve(dataDir);
  const refuse = (why: string) => new BadInputError('path', `${why}; it must name a file inside the migration data dir ${root} (MIGRATION_DATA_DIR)`);
  if (typeof p !== 'string' || !p.trim()) throw refuse('is empty');
  if (p.includes('\0')) throw refuse('contains a NUL byte');
  if (p.split(/[\\/]+/).includes('..')) throw refuse(`${JSON.stringify(p)} contains ".."`);
  const full = path.resolve(root, p);
  const relative = path.relative(root, full);
  if (!relative || relative.startsWith('..') || path.isAbsolute(relative)) throw refuse(`${JSON.stringify(p)} is outside the data dir`);
  let at = root;
  for (const part of relative.split(path.sep)) {
    at = path.join(at, part);
    const st = lstatOrNull(at);
    if (!st) break;
    if (st.isSymbolicLink()) throw linkRefusal(at);
    if (at === full && !st.isFile()) throw refuse(`${JSON.stringify(p)} exists and is not a regular file`);
  }
  return { full, relative };
}

/** Header line of a Switchyard NDJSON export. */
export interface ExportHeader {
  format: 'switchyard-ndjson';
  version: 1;
  kind: 'RELATIONAL' | 'VECTORS';
  createdAt: string;
  /** Where the data came from (labels, never secrets). */
  source: string;
  /** RELATIONAL: the tables, in load order. */
  tables?: string[];
  /** VECTORS: collection, dimension, metric and the embedding model the vectors were made with. */
  collection?: string;
  dimensions?: number | null;
  metric?: string | null;
  model?: string | null;
}

/** What a committed export file holds: data records (the header line not counted) and its size. */
export interface Committed {
  records: number;
  bytes: number;
}

/** Flush to the file once this much text is buffered. */
const FLUSH_BYTES = 1 << 20;

/**
 * Writes an NDJSON file with constant memory (at most ~1 MiB buffered). Writes into `<file>.partial`,
 * created exclusively and never through a link, and on commit flushes, fsyncs, renames it to `<file>` and
 * fsyncs the folder: after commit() returns, the file is on disk under its real name; a crash before
 * leaves no truncated file under it.
 */
export class NdjsonWriter {
  private handle?: FileHandle;
  private readonly partial: string;
  private buffered: string[] = [];
  private bufferedLength = 0;
  private bytes = 0;
  private count = 0;

  constructor(readonly file: string) {
    this.partial = `${file}.partial`;
  }

  /** Data records written so far (the header not counted). */
  get records(): number {
    return this.count;
  }

  async open(header: ExportHeader): Promise<void> {
    mkdirSync(path.dirname(this.file), { recursive: true });
    // A stale partial of a crashed run is removed; a link there is someone else's file: refused, kept.
    const stale = lstatOrNull(this.partial);
    if (stale?.isSymbolicLink()) throw linkRefusal(this.partial);
    if (stale) rmSync(this.partial);
    try {
      this.handle = await open(this.partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o666);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ELOOP') throw new BadInputError('path', `${this.partial} appeared while the export was starting (another writer, or a planted link); nothing was written. Remove it and retry.`);
      throw e;
    }
    this.bytes = 0;
    this.count = 0;
    this.buffer(header);
  }

  async write(values: unknown[]): Promise<void> {
    this.opened();
    for (const v of values) {
      this.buffer(v);
      this.count++;
      if (this.bufferedLength >= FLUSH_BYTES) await this.flush();
    }
  }

  /** Flush, fsync, rename into place, fsync the folder. Returns what the committed file holds. */
  async commit(): Promise<Committed> {
    const handle = this.opened();
    try {
      await this.flush();
      await handle.sync();
    } finally {
      this.handle = undefined;
      await handle.close().catch(() => undefined);
    }
    renameSync(this.partial, this.file);
    await syncDir(path.dirname(this.file));
    return { records: this.count, bytes: this.bytes };
  }

  async abort(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.buffered = [];
    this.bufferedLength = 0;
    await handle?.close().catch(() => undefined);
    // Never through a link: rmSync removes a link itself, not its target.
    rmSync(this.partial, { force: true });
  }

  private opened(): FileHandle {
    if (!this.handle) throw new Error(`${this.file} is not open for writing (not opened, or already committed or aborted)`);
    return this.handle;
  }

  private buffer(value: unknown): void {
    const line = JSON.stringify(value) + '\n';
    this.buffered.push(line);
    this.bufferedLength += line.length;
  }

  private async flush(): Promise<void> {
    const handle = this.opened();
    if (!this.buffered.length) return;
    const data = Buffer.from(this.buffered.join(''), 'utf8');
    this.buffered = [];
    this.bufferedLength = 0;
    for (let off = 0; off < data.length; ) off += (await handle.write(data, off, data.length - off, null)).bytesWritten;
    this.bytes += data.length;
  }
}

/** fsync a folder, so a rename inside it survives a power loss. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch (e) {
    // Windows cannot open a folder as a file (EISDIR/EPERM) and some file systems refuse fsync on one
    // (EINVAL): there the rename is as durable as the platform makes it. Anything else is a real error.
    const code = (e as NodeJS.ErrnoException).code;
    const unsupported = code === 'EINVAL' || ((code === 'EISDIR' || code === 'EPERM') && process.platform === 'win32');
    if (!unsupported) throw e;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The header of an export file, validated. */
export async function readHeader(file: string): Promise<ExportHeader> {
  for await (const { value } of readLines(file)) {
    const h = value as ExportHeader;
    if (h?.format !== 'switchyard-ndjson' || h.version !== 1) throw new BadInputError('path', `${file} is not a Switchyard NDJSON export (bad header line)`);
    return h;
  }
  throw new BadInputError('path', `${file} is empty`);
}

/** Opens an existing data file for reading: never through a link (O_NOFOLLOW), only a regular file. */
async function openForReading(file: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BadInputError('path', `${file} does not exist`);
    if (code === 'ELOOP') throw linkRefusal(file);
    throw e;
  }
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new BadInputError('path', `${file} is not a regular file`);
  }
  return handle;
}

/** Parsed lines of an NDJSON file with their 1-based line numbers, streamed (line 1 is the header). */
export async function* readLines(file: string): AsyncGenerator<{ line: number; value: unknown }> {
  const input = (await openForReading(file)).createReadStream({ encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const text of lines) {
      n++;
      if (!text.trim()) continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw new BadInputError('path', `${file}:${n} is not valid JSON`);
      }
      yield { line: n, value };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/** Data records in an export file as it is on disk (non-empty lines after the header, each valid JSON). */
export async function recordCount(file: string): Promise<number> {
  let n = 0;
  for await (const { line } of readLines(file)) if (line > 1) n++;
  return n;
}
