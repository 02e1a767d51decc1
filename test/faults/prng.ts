/**
 * The fault suite's only source of randomness: one seed, one deterministic generator (mulberry32).
 * Each scenario forks its own stream from the run's seed by name, so `--scenario x --seed S` draws the
 * same data and the same kill plan for x as the full run with seed S did.
 */
export class Prng {
  private a: number;

  constructor(readonly seed: number) {
    this.a = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** An independent stream for `name`, derived from the seed only (not from how much was drawn). */
  fork(name: string): Prng {
    let h = this.seed ^ 0x9e3779b9;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
    return new Prng(h >>> 0);
  }

  /** A unit-length float32 vector (cosine stores). */
  unitVector(dims: number): Float32Array {
    const v = new Float32Array(dims);
    let n = 0;
    for (let i = 0; i < dims; i++) {
      v[i] = this.next() * 2 - 1;
      n += v[i] * v[i];
    }
    const s = 1 / Math.sqrt(n);
    for (let i = 0; i < dims; i++) v[i] *= s;
    return v;
  }
}

/** A fresh seed when none is given (printed with every failure, so any run can be replayed). */
export function newSeed(): number {
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
