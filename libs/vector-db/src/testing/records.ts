import { VectorRecord } from '../vector-db.types';

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function unitVector(dims: number, next: () => number): Float32Array {
  const v = new Float32Array(dims);
  let n = 0;
  for (let i = 0; i < dims; i++) {
    v[i] = next() * 2 - 1;
    n += v[i] * v[i];
  }
  const s = 1 / Math.sqrt(n);
  for (let i = 0; i < dims; i++) v[i] *= s;
  return v;
}

/** n synthetic records spread over `users` users and documents of 10 chunks each. */
export function makeRecords(n: number, dims: number, opts: { seed?: number; users?: number; prefix?: string } = {}): VectorRecord[] {
  const next = rng(opts.seed ?? 1);
  const users = opts.users ?? 3;
  return Array.from({ length: n }, (_, i) => ({
    id: `${opts.prefix ?? 'r'}-${String(i).padStart(7, '0')}`,
    userId: `user-${i % users}`,
    documentId: `doc-${Math.floor(i / 10)}`,
    chunkIndex: i % 10,
    content: `chunk ${i} of a document — ünïcødé ✓`,
    embedding: unitVector(dims, next),
    metadata: { i, even: i % 2 === 0, ratio: i / 7, label: `L${i % 5}`, missing: i % 3 === 0 ? null : 'present' },
  }));
}
