import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import * as path from 'node:path';
import { BadInputError, SwitchyardError, errorMessage } from '@switchyard/core';
import { Embeddings } from '../embeddings.port';

export interface XenovaOptions {
  /** Hugging Face hub model id, e.g. `Xenova/all-MiniLM-L6-v2`. Used when `modelPath` is not set. */
  model: string;
  /**
   * Local model directory (config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx). When set, the
   * model is loaded from there only and the network is never touched; `model` is ignored.
   */
  modelPath?: string;
  /** Texts per model call. */
  batchSize: number;
  /** Where downloaded hub models are cached (transformers.js `cache_dir`). */
  cacheDir?: string;
  /** Allow downloading `model` from the hub (default true). When false only local/cached files are used. */
  allowRemote?: boolean;
  /** transformers.js dtype, e.g. `fp32` (default on cpu), `fp16`, `q8`. Picks onnx/model[_suffix].onnx. */
  dtype?: string;
}

/** The slice of transformers.js this driver uses (keeps the driver independent of its huge generic types). */
interface OutputTensor {
  dims: number[];
  data: ArrayLike<number>;
  dispose?: () => void;
}
interface Extractor {
  (texts: string[], options: { pooling: 'mean'; normalize: boolean }): Promise<OutputTensor>;
  dispose(): Promise<void>;
}
interface TransformersEnv {
  allowLocalModels: boolean;
  allowRemoteModels: boolean;
  cacheDir: string | null;
}
interface TransformersModule {
  env: TransformersEnv;
  pipeline(task: 'feature-extraction', model: string, options: Record<string, unknown>): Promise<unknown>;
}

const PROBE_TEXT = 'dimension probe';

// A real dynamic import that TypeScript's CommonJS output cannot rewrite into require().
const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

let transformersModule: Promise<TransformersModule> | undefined;

/**
 * Node's own `require`, resolving from this file.
 *
 * Under Jest, `require('node:module')` is a subclass of the real Module whose createRequire() loads through
 * Jest's sandboxed registry. Loading transformers.js that way puts onnxruntime-common in the test's VM realm
 * while the onnxruntime-node native binding returns typed arrays from the main realm, and every inference fails
 * with "A float32 tensor's data must be type of function Float32Array()" (microsoft/onnxruntime#16622).
 * Walking up to the real Module class loads transformers.js + onnxruntime in the main realm, consistently.
 * In plain Node (compiled Nest app) this is simply createRequire(__filename), i.e. the usual require.
 */
function nodeRequire(): NodeJS.Require {
  type ModuleClass = { createRequire(filename: string): NodeJS.Require };
  let M = ((nodeModule as unknown as { Module?: ModuleClass }).Module ?? nodeModule) as ModuleClass;
  for (let up = Object.getPrototypeOf(M); up && typeof up.createRequire === 'function'; up = Object.getPrototypeOf(up)) {
    M = up as ModuleClass;
  }
  return M.createRequire(__filename);
}

/**
 * Loads @huggingface/transformers once per process. The package ships a CommonJS build under the `node` +
 * `require` export condition, which works in CommonJS output and under Jest without VM-modules flags; a future
 * ESM-only release falls back to a native dynamic import.
 */
function loadTransformers(): Promise<TransformersModule> {
  transformersModule ??= (async () => {
    try {
      return nodeRequire()('@huggingface/transformers') as TransformersModule;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
      return (await dynamicImport('@huggingface/transformers')) as TransformersModule;
    }
  })();
  transformersModule.catch(() => (transformersModule = undefined));
  return transformersModule;
}

let envLock: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` with transformers.js' global `env` temporarily overridden, one load at a time per process, and
 * restores the previous values afterwards (the loaded pipeline never reads files again).
 *
 * Per-call options are not enough: transformers.js 4.3 resolves the pipeline's file list before loading and
 * does not pass `local_files_only`/`cache_dir` to that step, so with only per-call options a hub id that is not
 * in the default cache is fetched from huggingface.co even when remote access was meant to be off.
 */
function withEnv<T>(env: TransformersEnv, overrides: Partial<TransformersEnv>, fn: () => Promise<T>): Promise<T> {
  const run = async () => {
    const saved: Partial<TransformersEnv> = {};
    for (const k of Object.keys(overrides) as (keyof TransformersEnv)[]) (saved as Record<string, unknown>)[k] = env[k];
    Object.assign(env, overrides);
    try {
      return await fn();
    } finally {
      Object.assign(env, saved);
    }
  };
  const next = envLock.then(run, run);
  envLock = next.catch(() => undefined);
  return next;
}

/** Message of an error from any realm (errors thrown by transformers.js may not be `instanceof Error` here). */
function messageOf(e: unknown): string {
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return errorMessage(e);
}

/**
 * Embeddings driver running ONNX sentence-embedding models in-process with transformers.js (formerly
 * @xenova/transformers) on onnxruntime-node.
 *
 * - Model source: `modelPath` (a local directory, loaded with `local_files_only`, never the network) or the hub
 *   id `model` (downloaded into `cacheDir` unless `allowRemote` is false, in which case only cached/local files
 *   are used). transformers.js reads these settings from its global `env`; they are applied only while this
 *   instance's pipeline loads (loads are serialised process-wide) and restored afterwards, so instances with
 *   different settings can live in one process.
 * - `model` (recorded alongside vectors) is the hub id, or the local directory's basename.
 * - Vectors: mean pooling over the attention mask, then L2 normalisation, `batchSize` texts per model call.
 *   Calls into the model are serialised per instance; concurrent embed() calls queue up.
 * - init() is idempotent and single-flight; embed() before init() initialises lazily. A failed init() rejects
 *   with SwitchyardError('MODEL_LOAD_FAILED') and may be retried.
 */
export class XenovaEmbeddings extends Embeddings {
  readonly provider = 'xenova';
  readonly model: string;
  private readonly source: string;
  private readonly local: boolean;
  private readonly batchSize: number;
  private extractor?: Extractor;
  private initializing?: Promise<void>;
  private dims = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: XenovaOptions) {
    super();
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new BadInputError('batchSize', `must be a positive integer, got ${options.batchSize}`);
    }
    this.batchSize = options.batchSize;
    if (options.modelPath) {
      this.local = true;
      this.source = path.resolve(options.modelPath);
      this.model = path.basename(this.source);
    } else {
      if (!options.model) throw new BadInputError('model', 'a hub model id or a modelPath is required');
      this.local = false;
      this.source = options.model;
      this.model = options.model;
    }
  }

  get dimensions(): number {
    if (!this.dims) {
      throw new SwitchyardError('INTERNAL', `xenova embeddings "${this.model}": dimensions are known only after init()`);
    }
    return this.dims;
  }

  init(): Promise<void> {
    if (this.extractor) return Promise.resolve();
    this.initializing ??= this.load().finally(() => (this.initializing = undefined));
    return this.initializing;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    if (!Array.isArray(texts)) throw new BadInputError('texts', 'must be an array of strings');
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new BadInputError(`texts[${i}]`, `must be a string, got ${typeof t}`);
    });
    if (texts.length === 0) return [];
    await this.init();
    return this.serialized(async () => {
      const extractor = this.extractor;
      if (!extractor) throw new SwitchyardError('INTERNAL', `xenova embeddings "${this.model}" was closed`);
      const out: Float32Array[] = [];
      for (let i = 0; i < texts.length; i += this.batchSize) {
        const batch = texts.slice(i, i + this.batchSize);
        out.push(...(await this.run(extractor, batch)));
      }
      return out;
    });
  }

  async close(): Promise<void> {
    await this.initializing?.catch(() => undefined);
    await this.queue.catch(() => undefined);
    const extractor = this.extractor;
    this.extractor = undefined;
    if (extractor) await extractor.dispose();
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** One model call: returns one Float32Array per text, copied out of the output tensor row by row. */
  private async run(extractor: Extractor, batch: string[]): Promise<Float32Array[]> {
    const tensor = await extractor(batch, { pooling: 'mean', normalize: true });
    try {
      const [rows, dim] = tensor.dims;
      if (tensor.dims.length !== 2 || rows !== batch.length || !(dim > 0)) {
        throw new SwitchyardError(
          'INTERNAL',
          `xenova embeddings "${this.model}": expected output [${batch.length}, D], got [${tensor.dims.join(', ')}]`,
        );
      }
      if (this.dims && dim !== this.dims) {
        throw new SwitchyardError(
          'DIMENSION_MISMATCH',
          `xenova embeddings "${this.model}": model returned ${dim}-dimensional vectors, expected ${this.dims}`,
        );
      }
      const data = tensor.data;
      const result: Float32Array[] = [];
      for (let r = 0; r < rows; r++) {
        const v = new Float32Array(dim);
        for (let k = 0, o = r * dim; k < dim; k++) v[k] = data[o + k];
        result.push(v);
      }
      return result;
    } finally {
      tensor.dispose?.();
    }
  }

  private async load(): Promise<void> {
    const tried = this.local
      ? `local directory ${this.source} (offline)`
      : this.options.allowRemote === false
        ? `hub model "${this.source}" from local files/cache only${this.options.cacheDir ? ` (cache ${this.options.cacheDir})` : ''}, remote downloads disabled`
        : `hub model "${this.source}" (local cache${this.options.cacheDir ? ` ${this.options.cacheDir}` : ''}, then download from the Hugging Face hub)`;
    const fail = (why: string, cause?: unknown): never => {
      const hint = this.local
        ? 'Set EMBEDDINGS_XENOVA_MODEL_PATH to a directory containing config.json, tokenizer.json, ' +
          'tokenizer_config.json and onnx/model.onnx (e.g. `npm run model:generate` for the offline test model), ' +
          'or unset it to download EMBEDDINGS_XENOVA_MODEL from the hub.'
        : this.options.allowRemote === false
          ? 'Enable EMBEDDINGS_XENOVA_ALLOW_REMOTE (needs network access to huggingface.co) or point ' +
            'EMBEDDINGS_XENOVA_MODEL_PATH at a local model directory.'
          : 'Check network access to huggingface.co and the model id, or point EMBEDDINGS_XENOVA_MODEL_PATH ' +
            'at a local model directory for offline use.';
      throw new SwitchyardError(
        'MODEL_LOAD_FAILED',
        `Could not load embeddings model "${this.local ? this.source : this.model}": ${why}. Tried: ${tried}. ${hint}`,
        { provider: this.provider, model: this.model, modelPath: this.local ? this.source : undefined },
        cause === undefined ? undefined : { cause },
      );
    };

    if (this.local) {
      if (!fs.existsSync(this.source)) fail('the directory does not exist');
      if (!fs.statSync(this.source).isDirectory()) fail('the path is not a directory');
      const missing = ['config.json', 'tokenizer.json'].filter((f) => !fs.existsSync(path.join(this.source, f)));
      if (missing.length) fail(`missing ${missing.join(', ')}`);
    }

    let transformers: TransformersModule;
    try {
      transformers = await loadTransformers();
    } catch (e) {
      return fail(`@huggingface/transformers could not be loaded (${messageOf(e)})`, e);
    }

    let extractor: Extractor | undefined;
    try {
      const offline = this.local || this.options.allowRemote === false;
      const cacheDir = this.options.cacheDir ? path.resolve(this.options.cacheDir) : undefined;
      const overrides: Partial<TransformersEnv> = {
        allowLocalModels: true, // local directories and the file cache need filesystem access
        ...(offline ? { allowRemoteModels: false } : {}),
        ...(cacheDir ? { cacheDir } : {}),
      };
      extractor = (await withEnv(transformers.env, overrides, () =>
        transformers.pipeline('feature-extraction', this.source, {
          device: 'cpu',
          local_files_only: offline,
          ...(cacheDir ? { cache_dir: cacheDir } : {}),
          ...(this.options.dtype ? { dtype: this.options.dtype } : {}),
        }),
      )) as Extractor;
      const [probe] = await this.run(extractor, [PROBE_TEXT]);
      this.dims = probe.length;
      this.extractor = extractor;
    } catch (e) {
      await extractor?.dispose().catch(() => undefined);
      if (e instanceof SwitchyardError) throw e;
      fail(messageOf(e), e);
    }
  }
}
