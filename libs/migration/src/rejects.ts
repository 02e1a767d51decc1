import { closeSync, constants, createReadStream, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, ReadStream, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { readLines, resolveDataPath } from './ndjson';

/** One record a job set aside: which step, its id, why, and the record itself (as JSON). */
export interface RejectLine {
  step: string;
  id: string;
  reason: string;
  record: unknown;
}

/**
 * The reject file of a job (pgloader's reject file): `rejects/<jobId>.ndjson` in the data dir, one line
 * per record that was not written, with its reason. Lines are appended and fsynced before the batch they
 * belong to is checkpointed, so a checkpoint never counts a reject that is not on disk. A resumed run
 * may write a record's line again (it replays the batch after the last checkpoint); readers de-duplicate
 * by (step, id).
 */
export class RejectFile {
  readonly full: string;
  readonly relative: string;

  constructor(dataDir: string, jobId: string) {
    const p = resolveDataPath(dataDir, path.join('rejects', `${jobId}.ndjson`));
    this.full = p.full;
    this.relative = p.relative;
  }

  /** Appends and fsyncs; a no-op for no lines. */
  append(lines: RejectLine[]): void {
    if (!lines.length) return;
    mkdirSync(path.dirname(this.full), { recursive: true });
    // Never follows a planted symlink (O_NOFOLLOW): an append must not write through a link out of the data dir.
    const fd = openSync(this.full, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, lines.map((l) => JSON.stringify(l) + '\n').join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The file to download: a stream of its bytes as they are now (opened without following a planted
   * symlink), or null when the job set nothing aside.
   */
  open(): { stream: ReadStream; bytes: number } | null {
    let fd: number;
    try {
      fd = openSync(this.full, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`${this.relative} is not a regular file`);
      // No line, nothing set aside (and `end` below is inclusive: 0 would read a byte appended meanwhile).
      if (st.size === 0) {
        closeSync(fd);
        return null;
      }
      // Only the bytes there now: a running job appends whole fsynced lines, so this ends at a line end.
      return { stream: createReadStream('', { fd, start: 0, end: st.size - 1, autoClose: true, emitClose: true }), bytes: st.size };
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Starts over (a job run again from the start). */
  remove(): void {
    rmSync(this.full, { force: true });
  }

  /** The rejected ids of each step (de-duplicated). */
  async ids(): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    if (!existsSync(this.full)) return out;
    for await (const { value } of readLines(this.full)) {
      const l = value as RejectLine;
      if (typeof l?.step !== 'string' || typeof l.id !== 'string') continue;
      if (!out.has(l.step)) out.set(l.step, new Set());
      out.get(l.step)!.add(l.id);
    }
    return out;
  }
}
