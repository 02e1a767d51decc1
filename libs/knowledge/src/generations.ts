import { Logger } from '@nestjs/common';
import { BadInputError, SwitchyardError } from '@switchyard/core';
import { EmbeddingModels, Embeddings } from '@switchyard/embeddings';
import { EmbeddingGenerationEntity, GenerationsRepository, GenerationState, LIVE_GENERATION_STATES, RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';

/** An embedding generation as the app sees it. */
export interface Generation {
  id: number;
  model: string;
  dimensions: number;
  collection: string;
  state: GenerationState;
  jobId: string | null;
  createdAt: string;
  changedAt: string;
}

/** A generation with what serves it in this instance: its store and its model. */
export interface Served {
  generation: Generation;
  vectors: VectorDb;
  embeddings: Embeddings;
}

/** A view older than this many poll intervals is read again before a search uses it (a poll that keeps failing must not serve a generation long dropped). */
const STALE_POLLS = 3;
/** How long a handle of a dropped generation stays open for the writes that still hold it. */
const RELEASE_AFTER_MS = 60_000;

/** How long a flip waits for the two generations' counts to agree (writes in flight between them). */
const SETTLE_TRIES = 10;
const SETTLE_WAIT_MS = 200;

/**
 * The embedding generations of this deployment (a zero-downtime model switch): which one searches are
 * answered from (ACTIVE, read again every `pollMs` by every instance, so a flip reaches them without a
 * restart), and which ones every write goes to (all but DROPPED, read afresh by each write under the
 * document's lock). Without any recorded generation, the configured store and model are the only one.
 */
export class ModelGenerations {
  private readonly repo: GenerationsRepository;
  private rows: Generation[] | null = null;
  private readonly stores = new Map<string, Promise<VectorDb>>();
  private timer: NodeJS.Timeout | null = null;
  /** When this instance last read the generations. */
  private readAt = 0;
  private readonly logger = new Logger('ModelGenerations');

  constructor(
    db: RelationalDb,
    /** The configured vector store (VECTOR_DB_*): the first generation, and where the others are made (siblings). */
    private readonly base: VectorDb,
    readonly models: EmbeddingModels,
    private readonly pollMs = 1000,
  ) {
    this.repo = new GenerationsRepository(db);
  }

  /** The first generation when none is recorded: the configured collection with the configured model. */
  private get implicit(): Generation {
    const at = new Date(0).toISOString();
    return { id: 1, model: this.models.primary.model, dimensions: this.base.dimensions, collection: this.base.collection, state: 'ACTIVE', jobId: null, createdAt: at, changedAt: at };
  }

  /** Every generation, read now (the implicit first one when none is recorded). */
  async list(): Promise<Generation[]> {
    return this.remember((await this.repo.list()).map(toGeneration));
  }

  /** Keeps the recorded generations as this instance's view (the implicit first one when there are none). */
  private remember(recorded: Generation[]): Generation[] {
    this.rows = recorded.length ? recorded : [this.implicit];
    this.readAt = Date.now();
    // A generation dropped (by any instance): new calls open a fresh handle; this one is closed once the
    // writes that may still hold it are over.
    for (const g of recorded) {
      const held = g.state === 'DROPPED' ? this.stores.get(g.collection) : undefined;
      if (!held) continue;
      this.stores.delete(g.collection);
      setTimeout(() => void held.then((db) => (db === this.base ? undefined : db.close())).catch(() => undefined), RELEASE_AFTER_MS).unref();
    }
    return this.rows;
  }

  /** How long a drop waits before removing the collection: the grace for writes, and time for every instance's poll. */
  dropWaitMs(graceMs: number): number {
    return graceMs + STALE_POLLS * this.pollMs;
  }

  /** Whether a generation other than the configured store exists (a switch happened or is under way). */
  async switching(): Promise<boolean> {
    return (await this.list()).some((g) => g.state !== 'DROPPED' && g.collection !== this.base.collection);
  }

  /**
   * Checks at start that this instance can serve every live generation (its model loaded, with that
   * generation's dimensions), then reads the generations again every `pollMs`.
   */
  async start(): Promise<void> {
    const recorded = (await this.repo.list()).map(toGeneration); // the implicit first one is KnowledgeService's own check
    this.remember(recorded);
    for (const g of recorded.filter(isLive)) {
      const e = this.models.get(g.model);
      if (e.dimensions !== g.dimensions) {
        throw new SwitchyardError('DIMENSION_MISMATCH', `embedding generation ${g.id} (${g.state}) holds ${g.dimensions}-dimensional vectors of "${g.model}", but the loaded model makes ${e.dimensions}`, { generation: g.id });
      }
    }
    this.timer = setInterval(() => void this.list().catch((e) => this.logger.warn(`could not read the embedding generations (keeping the last ones): ${e instanceof Error ? e.message : e}`)), this.pollMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const stores = await Promise.all([...this.stores.values()].map((s) => s.catch(() => null)));
    this.stores.clear();
    await Promise.all(stores.filter((s): s is VectorDb => s !== null && s !== this.base).map((s) => s.close()));
  }

  /** The generation searches use, as this instance last read it (at most `pollMs` old). */
  async active(): Promise<Served> {
    const rows = this.rows && Date.now() - this.readAt <= STALE_POLLS * this.pollMs ? this.rows : await this.list();
    return this.serve(rows.find((g) => g.state === 'ACTIVE') ?? this.implicit);
  }

  /** The generations a write goes to, read now: the active one first. */
  async writeTargets(): Promise<Served[]> {
    return Promise.all(liveFirst(await this.list()).map((g) => this.serve(g)));
  }

  /** The generations a write went to when last read (to embed for them before taking the document's lock). */
  async cachedTargets(): Promise<Served[]> {
    return Promise.all(liveFirst(this.rows ?? (await this.list())).map((g) => this.serve(g)));
  }

  async find(id: number): Promise<Generation> {
    const g = (await this.list()).find((r) => r.id === id);
    if (!g) throw new BadInputError('generation', `there is no embedding generation ${id}`);
    return g;
  }

  /** The store and model of a generation in this instance (MODEL_NOT_LOADED when its model is not loaded here). */
  async serve(g: Generation): Promise<Served> {
    return { generation: g, embeddings: this.models.get(g.model), vectors: await this.storeOf(g) };
  }

  /** Whether a generation is the configured store itself. */
  private isBase(g: Generation): boolean {
    return g.collection === this.base.collection && g.dimensions === this.base.dimensions;
  }

  private storeOf(g: Generation): Promise<VectorDb> {
    if (this.isBase(g)) return Promise.resolve(this.base);
    let store = this.stores.get(g.collection);
    if (!store) {
      const db = this.base.sibling(g.collection, g.dimensions, g.model);
      store = db.init().then(() => db);
      store.catch(() => this.stores.delete(g.collection));
      this.stores.set(g.collection, store);
    }
    return store;
  }

  /**
   * The BUILDING generation of a BLUE_GREEN re-index job: the one it created before (a resume), or a new
   * one with the next model (EMBEDDINGS_NEXT_*) in a new collection beside the configured one. From the
   * moment it is recorded, every write of every instance also goes to it.
   */
  async building(jobId: string): Promise<Served> {
    const mine = await this.buildingOf(jobId);
    if (mine) return mine;
    const rows = this.rows ?? (await this.list());
    const active = (await this.active()).generation;
    const next = this.models.all.find((e) => e.model !== active.model);
    if (!next) {
      throw new BadInputError(
        'mode',
        `a BLUE_GREEN re-index builds a generation with another model than the active one ("${active.model}"); load it beside it with EMBEDDINGS_NEXT_XENOVA_MODEL (or EMBEDDINGS_NEXT_XENOVA_MODEL_PATH) on every instance and restart them`,
      );
    }
    await next.init(); // loaded already in an app (EmbeddingsModule); the CLI loads it when it is first needed
    // The collection must hold nothing before it is recorded: from then on every instance writes to it.
    const expected = generationCollection(this.base.collection, (rows[rows.length - 1]?.id ?? 1) + 1);
    const leftover = await this.collectionCount(expected, next);
    if (leftover > 0) {
      throw new SwitchyardError('MIGRATION_STATE', `the collection "${expected}" for the next generation already holds ${leftover} records (not made by this switch); remove it and start again. Nothing was written.`, { collection: expected });
    }
    const created = await this.repo.begin(this.implicit, (id) => ({ model: next.model, dimensions: next.dimensions, collection: generationCollection(this.base.collection, id) }), jobId);
    if (created.collection !== expected) {
      // Generations changed between the check and the record (another switch came and went): not checked.
      await this.repo.setState(created.id, ['BUILDING'], 'DROPPED');
      throw new SwitchyardError('MODEL_SWITCH_IN_PROGRESS', 'the embedding generations changed while this switch began; start it again', { generation: created.id });
    }
    await this.list();
    return this.serve(toGeneration(created));
  }

  /** Records in a collection (0 when it does not exist), opened without creating it. */
  private async collectionCount(collection: string, model: Embeddings): Promise<number> {
    const db = this.base.sibling(collection, model.dimensions, model.model);
    try {
      await db.init({ createIfMissing: false });
      return await db.count();
    } catch (e) {
      if (e instanceof SwitchyardError && e.code === 'NOT_FOUND') return 0;
      throw e;
    } finally {
      await db.close();
    }
  }

  /**
   * The BUILDING generation of a BLUE_GREEN re-index job, read now; null when the job recorded none yet.
   * MIGRATION_STATE when its generation is not BUILDING any more (switched to, or dropped): the job must
   * not write it again.
   */
  async buildingOf(jobId: string): Promise<Served | null> {
    const mine = (await this.list()).find((g) => g.jobId === jobId);
    if (!mine) return null;
    if (mine.state !== 'BUILDING') {
      throw new SwitchyardError('MIGRATION_STATE', `generation ${mine.id}, built by job ${jobId}, is ${mine.state}: this job cannot write it again${mine.state === 'DROPPED' ? '' : ' (its switch happened)'}; start a new BLUE_GREEN re-index instead`, { generation: mine.id, state: mine.state, jobId });
    }
    return this.serve(mine);
  }

  /** The generation a BLUE_GREEN re-index job built or builds, in any state (null: none yet). */
  async ofJob(jobId: string): Promise<Served | null> {
    const g = (await this.list()).find((r) => r.jobId === jobId);
    return g ? this.serve(g) : null;
  }

  /**
   * The atomic flip: `id` (BUILDING and verified, or PREVIOUS) becomes the active generation, the active
   * one PREVIOUS (still written, for a rollback). Refused unless both hold the same number of chunks.
   */
  async activate(id: number): Promise<Generation> {
    const target = await this.find(id);
    if (target.state !== 'BUILDING' && target.state !== 'PREVIOUS') {
      throw new SwitchyardError('MIGRATION_STATE', `generation ${id} is ${target.state}; only a BUILDING (verified) or PREVIOUS generation can become active`, { generation: id, state: target.state });
    }
    await this.assertSameCount(await this.serve(target), await this.active());
    if (!(await this.repo.activate(id, [target.state]))) throw new SwitchyardError('MIGRATION_STATE', `generation ${id} changed state meanwhile; look again (modelGenerations)`, { generation: id });
    await this.list();
    return this.find(id);
  }

  /** Makes the most recently replaced PREVIOUS generation active again. */
  async rollback(): Promise<Generation> {
    const previous = (await this.list()).filter((g) => g.state === 'PREVIOUS').sort((a, b) => b.changedAt.localeCompare(a.changedAt) || b.id - a.id)[0];
    if (!previous) throw new SwitchyardError('MIGRATION_STATE', 'there is no previous embedding generation to roll back to', {});
    return this.activate(previous.id);
  }

  /**
   * Garbage-collects a generation nobody searches: it is marked DROPPED (writes stop going to it), and
   * after `graceMs` (writes that read the generations before) plus three poll intervals (every instance
   * has read the generations again by then) its collection is removed, after
   * `beforeDestroy` (the migration module's counted backup) returned. Idempotent: a
   * DROPPED generation is removed again (nothing to do when it is gone already).
   */
  async drop(id: number, graceMs = 5_000, beforeDestroy?: (store: VectorDb, g: Generation) => Promise<void>): Promise<Generation> {
    const g = await this.find(id);
    if (g.state === 'ACTIVE') throw new SwitchyardError('MIGRATION_STATE', `generation ${id} is the active one; switch to another first`, { generation: id });
    // Dropping a DROPPED one again removes its collection (a process that died during the grace period left it).
    if (g.state !== 'DROPPED' && !(await this.repo.setState(id, ['PREVIOUS', 'BUILDING'], 'DROPPED'))) {
      throw new SwitchyardError('MIGRATION_STATE', `generation ${id} changed state meanwhile; look again`, { generation: id });
    }
    await this.list();
    await new Promise((r) => setTimeout(r, this.dropWaitMs(graceMs)));
    // A handle of its own, not the cached one (released by every read of the generations from now on).
    const store = this.isBase(g) ? this.base : this.base.sibling(g.collection, g.dimensions, g.model);
    try {
      await store.init();
      await beforeDestroy?.(store, g);
      await store.destroy();
    } finally {
      if (store !== this.base) await store.close();
    }
    return this.find(id);
  }

  private async assertSameCount(next: Served, active: Served): Promise<void> {
    let counts: [number, number] = [0, 0];
    for (let i = 0; i < SETTLE_TRIES; i++) {
      counts = [await next.vectors.count(), await active.vectors.count()];
      if (counts[0] === counts[1]) return;
      await new Promise((r) => setTimeout(r, SETTLE_WAIT_MS));
    }
    throw new SwitchyardError(
      'GENERATION_INCOMPLETE',
      `generation ${next.generation.id} holds ${counts[0]} chunks but the active generation ${active.generation.id} holds ${counts[1]}; resume its re-index (or run it again) before switching`,
      { generation: next.generation.id, chunks: counts[0], activeChunks: counts[1] },
    );
  }
}

function isLive(g: Generation): boolean {
  return LIVE_GENERATION_STATES.includes(g.state);
}

function liveFirst(rows: Generation[]): Generation[] {
  return rows.filter(isLive).sort((a, b) => Number(b.state === 'ACTIVE') - Number(a.state === 'ACTIVE') || a.id - b.id);
}

/** The collection of generation `id`: the configured name with `_g<id>` (cut to fit 63 characters). */
export function generationCollection(base: string, id: number): string {
  const suffix = `_g${id}`;
  return `${base.slice(0, 63 - suffix.length)}${suffix}`;
}

function toGeneration(r: EmbeddingGenerationEntity): Generation {
  return { id: r.id, model: r.model, dimensions: r.dimensions, collection: r.collection, state: r.state as GenerationState, jobId: r.jobId, createdAt: r.createdAt, changedAt: r.changedAt };
}
