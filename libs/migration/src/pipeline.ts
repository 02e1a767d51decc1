import { setTimeout as sleep } from 'node:timers/promises';
import { Checksum } from './checksum';
import type { DataReader, DataWriter, Page, WriteMode } from './datasets';
import type { Rejected } from './migration.types';

/**
 * Reads one item ahead: while the consumer works on item n (writes a page), item n+1 is already being
 * produced (read from the source, or embedded). Closes the source when the consumer stops early.
 */
export async function* prefetch<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next: Promise<IteratorResult<T>> | undefined = it.next();
  try {
    for (;;) {
      const r: IteratorResult<T> = await next;
      next = undefined;
      if (r.done) return;
      next = it.next();
      next.catch(() => undefined); // observed when awaited; never an unhandled rejection meanwhile
      yield r.value;
    }
  } finally {
    if (next) {
      await next.catch(() => undefined);
      await it.return?.(undefined);
    }
  }
}

export interface BatchResult<T> {
  page: Page<T>;
  written: number;
  skipped: number;
  rejected: Rejected[];
  ms: number;
}

export interface CopyOptions<T> {
  reader: DataReader<T>;
  writer: DataWriter<T>;
  pageSize: number;
  /** Resume after this cursor. */
  after?: string;
  /** Write mode for the first batch and for the others (a resumed run overwrites the first one). */
  mode: { first: WriteMode; rest: WriteMode };
  /** Called before each batch is written: throws to stop (cancellation). */
  check?: () => Promise<void> | void;
  /** Called after each batch is written (checkpoint, progress). */
  onBatch?: (b: BatchResult<T>) => Promise<void>;
  throttleMs?: number;
}

/**
 * The one copy loop every job uses: pages from the reader (one page read ahead), records the target
 * cannot hold set aside as rejected, the rest written in bulk, then the page's commit hook and the batch
 * callback (checkpoint), in that order.
 */
export async function copyPages<T>(o: CopyOptions<T>): Promise<void> {
  let first = true;
  for await (const page of prefetch(o.reader.pages(o.pageSize, o.after))) {
    await o.check?.();
    const t0 = Date.now();
    const rejected: Rejected[] = [];
    const valid = page.items.filter((item) => {
      const why = o.writer.validate(item);
      if (why) rejected.push({ id: o.reader.idOf(item), reason: why });
      return !why;
    });
    const { written, skipped } = await o.writer.write(valid, first ? o.mode.first : o.mode.rest);
    first = false;
    await page.commit?.();
    await o.onBatch?.({ page, written, skipped, rejected, ms: Date.now() - t0 });
    if (o.throttleMs) await sleep(o.throttleMs);
  }
}

/** Checksum and count of everything a reader yields; `visit` sees each item (sampling). */
export async function checksumOf<T>(reader: DataReader<T>, hash: (item: T) => bigint, pageSize: number, visit?: (item: T, index: number) => void): Promise<Checksum> {
  const sum = new Checksum();
  for await (const page of prefetch(reader.pages(pageSize))) {
    for (const item of page.items) {
      visit?.(item, sum.count);
      sum.add(hash(item));
    }
  }
  return sum;
}
