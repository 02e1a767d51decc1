/**
 * Deterministic data for the benchmarks: the same seed and index always give the same bytes, in any
 * process, so each side of a benchmark (Switchyard, its anchor) can regenerate or read the same data.
 */
import type { VectorRecord } from '@switchyard/vector-db';
import { createHash } from 'node:crypto';

/** splitmix32-style PRNG: small, fast, good enough for synthetic data. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let z = (this.s = (this.s + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return ((z ^ (z >>> 15)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/** An Rng for item `i` of stream `stream`: items can be generated independently and in any order. */
export function rngFor(stream: string, i: number): Rng {
  return new Rng(createHash('sha1').update(`${stream}:${i}`).digest().readUInt32LE(0));
}

// Plain English words (many of them in the generated test model's vocabulary), with a few accented and
// non-Latin ones so encodings and CSV/COPY escaping are exercised.
const WORDS = (
  'the of and to in is that for it as with was on be by this are from at or an have not which but all were ' +
  'can has more one their there been would other when will about some into only than its time new may these ' +
  'two first also after any used such most over made where years each them between those both under many ' +
  'system data database query index table user document search vector model result report team project plan ' +
  'customer order invoice payment account service server request response error fix release version update ' +
  'doctor patient hospital car vehicle house home child school city market price product sales support help ' +
  'meeting schedule budget policy contract review approve quick fast slow large small happy sad easy simple ' +
  'start begin finish end build test deploy monitor storage network memory cache latency throughput backup ' +
  'migration postgres sqlite chroma embedding chunk token language summary answer question context source ' +
  'café naïve résumé Zürich São Paulo Kraków 東京 データ'
).split(' ');
const PUNCT = ['.', '.', '.', '.', '!', '?', ';', ','];

/** Text of about `bytes` UTF-8 bytes: sentences and paragraphs, with occasional quotes, tabs, backslashes, emoji. */
export function text(rng: Rng, bytes: number): string {
  const parts: string[] = [];
  let len = 0;
  let sentence = 0;
  while (len < bytes) {
    let w = rng.pick(WORDS);
    if (sentence === 0) w = w[0].toUpperCase() + w.slice(1);
    const r = rng.next();
    if (r < 0.004) w = `"${w}"`;
    else if (r < 0.006) w = `${w}\t`;
    else if (r < 0.007) w = `C:\\data\\${w}`;
    else if (r < 0.008) w = `${w} 🚀`;
    parts.push(w);
    len += w.length + 1;
    sentence++;
    if (sentence > 6 && rng.next() < 0.15) {
      parts.push(rng.pick(PUNCT) + (rng.next() < 0.12 ? '\n\n' : ' '));
      len += 2;
      sentence = 0;
    } else parts.push(' ');
  }
  return parts.join('').trim();
}

/** Log-normal size (median `median`, sigma `sigma`), clamped. */
export function logNormal(rng: Rng, median: number, sigma: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.round(median * Math.exp(sigma * rng.normal()))));
}

/** A uuid-shaped deterministic id. */
export function uuidFor(stream: string, i: number): string {
  const h = createHash('sha1').update(`${stream}#${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const DAY = 86_400_000;
const EPOCH = Date.UTC(2021, 0, 1);

/** A date with milliseconds in 2021..2025. */
export function dateIn(rng: Rng, spanDays = 1500): Date {
  return new Date(EPOCH + Math.floor(rng.next() * spanDays * DAY));
}

// ---- relational rows (shapes of UserEntity / DocumentEntity) -------------------------------------

export interface UserRow {
  id: string;
  email: string | null;
  displayName: string | null;
  roles: string[] | null;
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface DocumentRow {
  id: string;
  userId: string;
  externalId: string;
  title: string | null;
  content: string;
  contentBytes: number;
  chunkCount: number;
  metadata: Record<string, unknown> | null;
  embeddingModel: string | null;
  indexedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const userId = (i: number) => `user-${String(i).padStart(7, '0')}`;

export function userRow(i: number): UserRow {
  const rng = rngFor('user', i);
  const createdAt = dateIn(rng, 1000);
  return {
    id: userId(i),
    email: rng.next() < 0.1 ? null : `user${i}.${rng.pick(WORDS).replace(/[^a-z]/gi, 'x')}@example.org`,
    displayName: rng.next() < 0.2 ? null : `${text(rng, 6 + rng.int(20))} ${i}`.slice(0, 255),
    roles: rng.next() < 0.3 ? null : rng.next() < 0.1 ? ['admin', 'reader'] : ['reader'],
    active: rng.next() < 0.9,
    createdAt,
    updatedAt: new Date(createdAt.getTime() + rng.int(300) * DAY),
  };
}

/**
 * A document of user `i % users`. Content sizes are log-normal (median ~900 bytes, mean ~1.5 KB, capped at
 * 64 KB): most notes are short, a few are long. Titles, metadata, model and indexed_at are NULL at
 * realistic rates.
 */
export function documentRow(i: number, users: number, o: { median?: number } = {}): DocumentRow {
  const rng = rngFor('doc', i);
  const content = text(rng, logNormal(rng, o.median ?? 900, 1.0, 60, 65_536));
  const createdAt = dateIn(rng);
  const indexed = rng.next() < 0.6;
  return {
    id: uuidFor('doc', i),
    userId: userId(i % users),
    externalId: `doc-${i}`,
    title: rng.next() < 0.15 ? null : text(rng, 10 + rng.int(80)).slice(0, 1000),
    content,
    contentBytes: Buffer.byteLength(content, 'utf8'),
    chunkCount: indexed ? 1 + rng.int(8) : 0,
    metadata:
      rng.next() < 0.25
        ? null
        : { source: rng.pick(['upload', 'api', 'crawler', 'email']), lang: rng.pick(['en', 'de', 'fr', 'pt']), pages: 1 + rng.int(40), score: Math.round(rng.next() * 1000) / 1000, tags: [rng.pick(WORDS), rng.pick(WORDS)], draft: rng.next() < 0.2, owner: { team: `t${rng.int(50)}`, since: dateIn(rng).toISOString() } },
    embeddingModel: indexed ? 'Xenova/all-MiniLM-L6-v2' : null,
    indexedAt: indexed ? new Date(createdAt.getTime() + rng.int(1000) * 60_000) : null,
    createdAt,
    updatedAt: new Date(createdAt.getTime() + rng.int(100) * DAY),
  };
}

// ---- vector records (shape of VectorRecord) -----------------------------------------------------

/** A vector record as Switchyard stores it. */
export type VectorRow = VectorRecord;

const CLUSTERS = 256;
const centers = new Map<number, Float32Array[]>();

/** Cluster centres shared by data and queries (clustered data, like real embeddings; not uniform noise). */
function centersFor(dims: number): Float32Array[] {
  let c = centers.get(dims);
  if (!c) {
    c = Array.from({ length: CLUSTERS }, (_, k) => {
      const rng = rngFor(`center${dims}`, k);
      return normalise(Float32Array.from({ length: dims }, () => rng.normal()));
    });
    centers.set(dims, c);
  }
  return c;
}

function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i] * v[i];
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

/** A unit vector near one of the cluster centres. */
export function clusteredVector(rng: Rng, dims: number, noise = 0.6): Float32Array {
  const c = rng.pick(centersFor(dims));
  const s = noise / Math.sqrt(dims);
  return normalise(Float32Array.from(c, (x) => x + s * rng.normal()));
}

/** Chunk `i` of a corpus spread over `users` users, ~6 chunks per document, ~500-byte texts. */
export function vectorRow(i: number, dims: number, users: number): VectorRow {
  const rng = rngFor(`vec${dims}`, i);
  const doc = Math.floor(i / 6);
  const u = doc % users;
  return {
    id: `${uuidFor('vdoc', doc)}:${i % 6}`,
    userId: userId(u),
    documentId: `doc-${doc}`,
    chunkIndex: i % 6,
    content: text(rng, logNormal(rng, 500, 0.4, 80, 1000)),
    embedding: clusteredVector(rng, dims),
    metadata: { title: rng.next() < 0.1 ? null : `Document ${doc}`, source: rng.pick(['upload', 'api', 'crawler']), page: 1 + rng.int(30), draft: rng.next() < 0.1 },
  };
}

/** Query vector `q` (from the same clusters as the data). */
export function queryVector(q: number, dims: number): Float32Array {
  return clusteredVector(rngFor(`query${dims}`, q), dims);
}
