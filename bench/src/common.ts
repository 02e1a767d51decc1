/** Helpers shared by the benchmark workers (each worker runs in its own child process). */
import { createEmbeddings, XenovaEmbeddings } from '@switchyard/embeddings';
import { Client } from 'pg';

/** A connection URL as RELATIONAL_DB_* / a pgvector connection (the tests' helper). */
export { toConnection } from '../../test/support/services';

export const RESULT_PREFIX = '@@BENCH_RESULT ';

/** Milliseconds since `t0` (from now()). */
export const now = () => performance.now();
export const since = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

export function log(msg: string): void {
  process.stderr.write(`    [${process.env.BENCH_SIDE ?? 'worker'}] ${msg}\n`);
}

/** What a worker reports: the records it moved and where the time went. */
export interface WorkerResult {
  /** Records moved / processed in the timed span. */
  items: number;
  /** The timed span (ms). */
  ms: number;
  /** Named parts of the timed span or extra timings (ms), and other numbers worth printing. */
  breakdown?: Record<string, number>;
  notes?: string[];
  /** The worker's own view of its peak RSS (process.resourceUsage().maxRSS, KiB). */
  maxRssKiB?: number;
  [k: string]: unknown;
}

/** Peaks of process.memoryUsage() sampled every 100 ms (MiB): where the peak RSS comes from. */
const mem = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 };
function sampleMemory(): void {
  const m = process.memoryUsage();
  mem.rss = Math.max(mem.rss, m.rss);
  mem.heapTotal = Math.max(mem.heapTotal, m.heapTotal);
  mem.heapUsed = Math.max(mem.heapUsed, m.heapUsed);
  mem.external = Math.max(mem.external, m.external + m.arrayBuffers);
}
setInterval(sampleMemory, 100).unref();

export function report(r: WorkerResult): void {
  sampleMemory();
  r.memory = Object.fromEntries(Object.entries(mem).map(([k, v]) => [`${k}MiB`, Math.round(v / 1048576)]));
  r.maxRssKiB = process.resourceUsage().maxRSS;
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(r)}\n`);
}

export async function withPg<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export const quietLogger = { log: () => undefined, warn: (m: string) => log(`warn: ${m}`), error: (m: string) => log(`error: ${m}`) };

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Intervals (performance.now()) during which a wrapped method was running. */
export type Intervals = [number, number][];

/** Wraps `obj[method]` (an async method) to record when it runs; instrumentation only, behaviour unchanged. */
export function timeCalls(obj: object, method: string, into: Intervals): void {
  const o = obj as Record<string, unknown>;
  const orig = o[method] as (...a: unknown[]) => unknown;
  if (typeof orig !== 'function') throw new Error(`no method ${method} to instrument`);
  o[method] = function (this: unknown, ...args: unknown[]) {
    const t = performance.now();
    const out = orig.apply(this, args);
    if (out && typeof (out as Promise<unknown>).then === 'function') {
      return (out as Promise<unknown>).finally(() => into.push([t, performance.now()]));
    }
    into.push([t, performance.now()]);
    return out;
  };
}

/** Total time (ms) of the intervals that started inside [from, to). */
export function busyMs(iv: Intervals, from: number, to: number): number {
  return Math.round(iv.filter(([s]) => s >= from && s < to).reduce((n, [s, e]) => n + (e - s), 0));
}

export interface Tensor {
  dims: number[];
  data: Float32Array;
  dispose?: () => void;
}
export type Extractor = (texts: string[], o: { pooling: 'mean'; normalize: boolean }) => Promise<Tensor>;

/** The transformers.js feature-extraction pipeline itself, offline, on a local model directory (the raw anchors). */
export async function rawPipeline(modelPath: string): Promise<Extractor> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@huggingface/transformers') as { env: Record<string, unknown>; pipeline: (task: string, model: string, o: object) => Promise<Extractor> };
  tf.env.allowRemoteModels = false;
  tf.env.allowLocalModels = true;
  return tf.pipeline('feature-extraction', modelPath, { device: 'cpu', local_files_only: true });
}

/** Switchyard's xenova driver on a local (generated) model directory, as EMBEDDINGS_XENOVA_MODEL_PATH would make it. */
export function localEmbeddings(modelPath: string, batchSize = 32): XenovaEmbeddings {
  return createEmbeddings({ provider: 'xenova', model: 'unused', modelPath, allowRemote: false, batchSize, chunkSize: 1000, chunkOverlap: 200 }) as XenovaEmbeddings;
}
