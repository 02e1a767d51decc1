import { setTimeout as sleep } from 'node:timers/promises';
import { Checksum } from './checksum';
import type { DataReader, DataWriter, Page, WriteMode } from './datasets';

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

/** A record the target cannot take, and why. */
export interface RejectedItem<T> {
  item: T;
  id: string;
  reason: string;
}

export interface BatchResult<T> {
  page: Page<T>;
  written: number;
  skipped: number;
  rejected: RejectedItem<T>[];
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
  /** Called before each batch is written: throws to stop (cancellation, a run that was taken over). */
  check?: () => Promise<void> | void;
  /** Called with a batch's rejects before it is written (the reject file), then after it is written (checkpoint, progress). */
  onRejects?: (rejected: RejectedItem<T>[]) => Promise<void> | void;
  onBatch?: (b: BatchResult<T>) => Promise<void>;
  throttleMs?: number;
}

/** Splits a page into what the target can take and what it must reject (per record, then per batch: keys, parents). */
export async function screen<T>(reader: DataReader<T>, writer: DataWriter<T>, items: T[]): Promise<{ valid: T[]; rejected: RejectedItem<T>[] }> {
  const rejected: RejectedItem<T>[] = [];
  let valid = items.filter((item) => {
    const why = writer.validate(item);
    if (why) rejected.push({ item, id: reader.idOf(item), reason: why });
    return !why;
  });
  if (writer.screen && valid.length) {
    const reasons = await writer.screen(valid);
    valid = valid.filter((item, i) => {
      const why = reasons.get(i);
      if (why) rejected.push({ item, id: reader.idOf(item), reason: why });
      return !why;
    });
  }
  return { valid, rejected };
}

/**
 * The one copy loop every job uses: pages from the reader (one page read ahead), records the target
 * cannot hold set aside as rejected (handed to onRejects before anything of the page is written), the rest
 * written in bulk, then the page's commit hook and the batch callback (checkpoint), in that order.
 */
export async function copyPages<T>(o: CopyOptions<T>): Promise<void> {
  let first = true;
  for await (const page of prefetch(o.reader.pages(o.pageSize, o.after))) {
    await o.check?.();
    const t0 = Date.now();
    const { valid, rejected } = await screen(o.reader, o.writer, page.items);
    if (rejected.length) await o.onRejects?.(rejected);
    await o.check?.();
    const { written, skipped } = await o.writer.write(valid, first ? o.mode.first : o.mode.rest);
    first = false;
    await page.commit?.();
    await o.onBatch?.({ page, written, skipped, rejected, ms: Date.now() - t0 });
    if (o.throttleMs) await sleep(o.throttleMs);
  }
}

/** Checksum and count of everything a reader yields; `visit` sees each item (sampling). */
export async function checksumOf<T>(reader: DataReader<T>, hash: (item: T) => bigint, pageSize: number, visit?: (item: T, index: number) => void, keep?: (item: T) => boolean, onHash?: (item: T, h: bigint) => void): Promise<Checksum> {
  const sum = new Checksum();
  let i = 0;
  for await (const page of prefetch(reader.pages(pageSize))) {
    for (const item of page.items) {
      visit?.(item, i++);
      if (keep && !keep(item)) continue;
      const h = hash(item);
      sum.add(h);
      onHash?.(item, h);
    }
  }
  return sum;
}
