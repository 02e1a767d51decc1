import { BadInputError } from '@switchyard/core';
import { createReadStream, createWriteStream, existsSync, mkdirSync, realpathSync, renameSync, rmSync, WriteStream } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';

/**
 * Resolves a user-given path inside the data dir. Refuses `..` segments, NUL bytes and anything that
 * resolves (also through a symlinked folder) outside the data dir, with BAD_INPUT.
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
  // A symlink inside the data dir must not lead out of it.
  let dir = path.dirname(full);
  while (!existsSync(dir) && dir.length > root.length) dir = path.dirname(dir);
  if (existsSync(dir) && existsSync(root)) {
    const realRoot = realpathSync(root);
    const realDir = realpathSync(dir);
    if (realDir !== realRoot && !realDir.startsWith(realRoot + path.sep)) throw refuse(`${JSON.stringify(p)} leads outside the data dir through a link`);
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

/**
 * Writes an NDJSON file with constant memory (waits for the stream to drain). Writes into
 * `<file>.partial` and renames on commit, so a crash never leaves a truncated file under the real name.
 */
export class NdjsonWriter {
  private out?: WriteStream;
  private readonly partial: string;

  constructor(readonly file: string) {
    this.partial = `${file}.partial`;
  }

  async open(header: ExportHeader): Promise<void> {
    mkdirSync(path.dirname(this.file), { recursive: true });
    this.out = createWriteStream(this.partial, { flags: 'w' });
    await this.write([header]);
  }

  async write(values: unknown[]): Promise<void> {
    const out = this.out;
    if (!out) throw new Error(`${this.file} is not open`);
    for (const v of values) {
      if (!out.write(JSON.stringify(v) + '\n')) await once(out, 'drain');
    }
  }

  async commit(): Promise<void> {
    await this.end();
    renameSync(this.partial, this.file);
  }

  async abort(): Promise<void> {
    await this.end().catch(() => undefined);
    rmSync(this.partial, { force: true });
  }

  private async end(): Promise<void> {
    const out = this.out;
    this.out = undefined;
    if (out && !out.closed) {
      out.end();
      await once(out, 'close');
    }
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

/** Parsed lines of an NDJSON file with their 1-based line numbers, streamed (line 1 is the header). */
export async function* readLines(file: string): AsyncGenerator<{ line: number; value: unknown }> {
  if (!existsSync(file)) throw new BadInputError('path', `${file} does not exist`);
  const input = createReadStream(file, { encoding: 'utf8' });
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
