import { Checksum, hash64 } from './checksum';
import type { DataReader } from './datasets';
import { prefetch } from './pipeline';

const BUCKETS = 256;
const MAX_KEYS = 10;

/**
 * Checksums of a dataset per bucket of its ids (a hash of the id picks the bucket), gathered during the
 * verification's own scan: when the whole checksums differ, the buckets that differ say where to look,
 * so one more pass over those buckets only finds the differing keys in bounded memory.
 */
export class BucketSums {
  readonly sums = Array.from({ length: BUCKETS }, () => new Checksum());

  static bucket(id: string): number {
    return Number(hash64(id) % BigInt(BUCKETS));
  }

  add(id: string, hash: bigint): void {
    this.sums[BucketSums.bucket(id)].add(hash);
  }

  /** Buckets whose count or checksum differ from `other`'s. */
  differing(other: BucketSums): Set<number> {
    const out = new Set<number>();
    this.sums.forEach((s, i) => {
      if (s.count !== other.sums[i].count || s.hex !== other.sums[i].hex) out.add(i);
    });
    return out;
  }
}

/** What differs between source and target, by key: a few examples of each kind, and how many in all. */
export interface KeyDiff {
  missing: string[];
  extra: string[];
  changed: string[];
  counts: { missing: number; extra: number; changed: number };
}

async function collect<T>(reader: DataReader<T>, hash: (item: T) => bigint, buckets: Set<number>, pageSize: number, keep?: (item: T) => boolean): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for await (const page of prefetch(reader.pages(pageSize))) {
    for (const item of page.items) {
      if (keep && !keep(item)) continue;
      const id = reader.idOf(item);
      if (buckets.has(BucketSums.bucket(id))) out.set(id, hash(item));
    }
  }
  return out;
}

/**
 * The differing keys of two sides whose bucket sums differ: one pass over each side, keeping only the
 * records of the differing buckets (a few records differing means a few buckets, a small fraction of the data).
 */
export async function keyDiff<T>(source: DataReader<T>, target: DataReader<T>, hash: (item: T) => bigint, buckets: Set<number>, pageSize: number, keep?: (item: T) => boolean): Promise<KeyDiff> {
  const [a, b] = await Promise.all([collect(source, hash, buckets, pageSize, keep), collect(target, hash, buckets, pageSize)]);
  const diff: KeyDiff = { missing: [], extra: [], changed: [], counts: { missing: 0, extra: 0, changed: 0 } };
  const note = (kind: 'missing' | 'extra' | 'changed', id: string) => {
    diff.counts[kind]++;
    if (diff[kind].length < MAX_KEYS) diff[kind].push(id);
  };
  for (const [id, h] of a) {
    const t = b.get(id);
    if (t === undefined) note('missing', id);
    else if (t !== h) note('changed', id);
  }
  for (const id of b.keys()) if (!a.has(id)) note('extra', id);
  return diff;
}

/** The diff as a sentence for the verification notes. */
export function describeDiff(name: string, d: KeyDiff): string {
  const parts: string[] = [];
  if (d.counts.missing) parts.push(`${d.counts.missing} missing in the target (e.g. ${d.missing.map((k) => JSON.stringify(k)).join(', ')})`);
  if (d.counts.extra) parts.push(`${d.counts.extra} in the target only (e.g. ${d.extra.map((k) => JSON.stringify(k)).join(', ')})`);
  if (d.counts.changed) parts.push(`${d.counts.changed} with other content (e.g. ${d.changed.map((k) => JSON.stringify(k)).join(', ')})`);
  return `${name}: differing keys: ${parts.join('; ') || 'none found (the data changed between the passes)'}.`;
}
