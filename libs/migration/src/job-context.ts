import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { BadInputError, ErrorCode, ProviderProfile, ProviderUnavailableError, SwitchyardError } from '@switchyard/core';
import type { Embeddings } from '@switchyard/embeddings';
import type { ModelGenerations } from '@switchyard/knowledge';
import { ChangeCapture, ColumnRow, createRelationalDb, datasetNameOf, DocumentsRepository, MigrationJobEntity, RelationalDb, VectorFreezeRepository } from '@switchyard/relational-db';
import { createVectorDb, VectorDb, VectorRecord, VectorStoreInfo } from '@switchyard/vector-db';
import type { EntityMetadata } from 'typeorm';
import { Checksum, recordFieldsHash, rowHash, vectorHash } from './checksum';
import { DataReader, DataWriter, NdjsonSection, NdjsonSink, Page, ReindexSource, RelationalTable, VectorCollection } from './datasets';
import { ACTIVE_PROFILE, Backup, ChunkFn, ConflictPolicy, DatasetKind, JobKind, JobOptions, PlanSide, PlanStep, VectorSide } from './migration.types';
import { ExportHeader, NdjsonWriter, readHeader, resolveDataPath } from './ndjson';
import { rulesFor } from './row-rules';
import { relationalTables } from './table-order';
import type { LiveJob } from './live-sync';
import { goLiveRelational, goLiveStack, goLiveVectors, sourceTable } from './live-context';
import { checksumOf, copyPages } from './pipeline';
import { backUpCollection } from './collection-backup';
import { compareNeighbours, exactRecall, OrphanCheck, RecallResult, selfRetrieval, vectorHeader, withEmbeddings } from './vector-checks';

/* eslint-disable @typescript-eslint/no-explicit-any -- steps are heterogeneous (rows, vectors) */

/** One table / collection a job moves. */
export interface Step<T = any> {
  name: string;
  kind: PlanStep['kind'];
  source: DataReader<T>;
  target: DataWriter<T>;
  /** The same records as `source`, cheap to read (a re-index: chunks without embeddings), for plans and verification. */
  scan: DataReader<T>;
  /** Verification: the target side as a reader, and the hash both sides are compared by. */
  check?: { target: DataReader<T>; hash(item: T): bigint };
  /** Takes a backup of the target before TRUNCATE / OVERWRITE. */
  backup?(tag: string): Promise<Backup>;
  backupKind?: Backup['kind'];
  /**
   * OVERWRITE: take the backup just before the first page that writes anything, not before the copy (an
   * incremental re-index of an unchanged corpus writes nothing, so it backs up nothing).
   */
  backupOnFirstWrite?: boolean;
  /** Verification: the target must hold exactly the source's records, whatever it held before (a re-index: the store is the documents' chunks). */
  wholeTarget?: boolean;
  /** Verification compares the target with this (a restore: what the backup held) instead of reading a source. */
  expected?: { count: number; checksum: string | null };
  /** Replaces the copy loop (restoring a snapshot table). */
  run?(): Promise<void>;
}

/** Everything a job needs to run, plan or verify: its steps, both sides opened, and what would stop it. */
export interface JobContext {
  /**
   * A target the app keeps writing during the verification (a BLUE_GREEN generation): keys that differ
   * from the source are compared again against the app's own active store, record by record; returns
   * those that still differ. Without it every difference fails the verification.
   */
  settle?: (ids: string[]) => Promise<string[]>;
  job: MigrationJobEntity;
  steps: Step[];
  source: PlanSide;
  target: PlanSide;
  /** Why the job must not write (dimension / metric / model mismatch, same store...), found before any write. */
  refusal: SwitchyardError | null;
  warnings: string[];
  /** Continues from checkpoints (an export starts its file over instead). */
  resumable: boolean;
  /** Backs up targets before TRUNCATE / OVERWRITE. */
  backups: boolean;
  /** OVERWRITE must empty the target too (a store built with other dimensions or another model). */
  clearOnOverwrite: boolean;
  recall?: { side: 'source' | 'target'; measure(samples: VectorRecord[]): Promise<RecallResult> };
  /** Verification: the target's search against an exact scan of the target, for the recall samples. */
  exactRecall?(samples: VectorRecord[]): Promise<number | null>;
  /** Verification: the target's vectors must find their documents here. */
  orphans?: OrphanCheck;
  /** Plan: extra cost (ms per record) measured on a sample page (embedding for a re-index). */
  sampleCost?(page: Page<any>): Promise<number>;
  before?(): Promise<void>;
  after?(): Promise<void>;
  /** Cleanup after a failed, cancelled or shut-down run (a live job's capture stays: it can be resumed). */
  abort?(): Promise<void>;
  /** A live job: change capture, catch-up, freeze, cutover. */
  live?: LiveJob;
  close(): Promise<void>;
}

export interface ContextDeps {
  target: { relational: RelationalDb; vector: VectorDb };
  embeddings?: Embeddings;
  profiles: Record<string, ProviderProfile>;
  dataDir: string;
  chunk: ChunkFn;
  /** KNOWLEDGE_MAX_DOCUMENT_BYTES: the API's limit, applied to migrated documents too. */
  maxDocumentBytes: number;
  /** The app's embedding generations (BLUE_GREEN re-index). */
  generations?: ModelGenerations;
}

const vectorLabel = (i: Pick<VectorStoreInfo, 'provider' | 'collection' | 'location'>) => `the ${i.provider} collection "${i.collection}" at ${i.location}`;

function vectorSide(i: VectorStoreInfo): VectorSide {
  return { provider: i.provider, location: i.location, collection: i.collection, dimensions: i.storedDimensions ?? i.dimensions, metric: i.storedMetric ?? i.metric, model: i.storedModel ?? i.model, mismatch: i.mismatch };
}

/** The error code for what is wrong with a store described by `mismatch`. */
function mismatchCode(i: VectorStoreInfo): ErrorCode {
  if (i.storedMetric && i.storedMetric !== 'cosine') return 'METRIC_MISMATCH';
  return i.storedDimensions !== null && i.storedDimensions !== i.dimensions ? 'DIMENSION_MISMATCH' : 'MODEL_MISMATCH';
}

interface StoreRef {
  label: string;
  identity(): Promise<string>;
}

/**
 * Refuses a job whose source is the target itself under another name (a symlink, localhost vs 127.0.0.1,
 * another URL of the same server): stores are compared by what they are (file device+inode, PostgreSQL
 * system identifier + database oid, Chroma collection id), not by how they are named.
 */
async function sameStore(profile: string, source: StoreRef, target: StoreRef): Promise<SwitchyardError | null> {
  const [a, b] = await Promise.all([source.identity(), target.identity()]);
  if (a !== b) return null;
  return new SwitchyardError(
    'SAME_STORE',
    `The source profile "${profile}" (${source.label}) and the active target (${target.label}) are the same store (${a}). ` +
      `Copying it onto itself would ${'empty or overwrite it'}; point MIGRATION_${profile.toUpperCase()}_* at the store you are moving from. Nothing was written.`,
    { source: source.label, target: target.label, identity: a, profile },
  );
}

/** What vectors coming from somewhere carry, to check against the target before any write. */
interface IncomingVectors {
  label: string;
  dimensions: number | null;
  metric: string | null;
  model: string | null;
}

/** Builds the context of a job: opens the source (read-only) and checks both sides. */
export class ContextBuilder {
  constructor(private readonly deps: ContextDeps) {}

  private get target() {
    return this.deps.target;
  }

  /**
   * `readOnly`: for a verification (nothing is created: a BLUE_GREEN job's generation must exist).
   * `partition`: for a queue worker (the coordinator recorded the generation; a worker never creates one).
   */
  async build(job: MigrationJobEntity, o: { readOnly?: boolean; partition?: boolean } = {}): Promise<JobContext> {
    const options = (job.options ?? {}) as JobOptions;
    switch (job.kind as JobKind) {
      case 'RELATIONAL':
        return this.relational(job);
      case 'VECTORS':
        return this.vectors(job);
      case 'REINDEX':
        return this.reindex(job, o);
      case 'FULL_STACK':
        return this.fullStack(job);
      case 'EXPORT':
        return this.exportData(job, options.dataset ?? 'RELATIONAL', options);
      case 'IMPORT':
        return this.importData(job, options.dataset ?? 'RELATIONAL', options);
      case 'RESTORE':
        return this.restore(job);
      default:
        throw new SwitchyardError('MIGRATION_STATE', `job ${job.id} has an unknown kind ${JSON.stringify(job.kind)}`);
    }
  }

  /** The named profile; ACTIVE_PROFILE is the target itself. */
  profile(name: string): ProviderProfile | null {
    if (name === ACTIVE_PROFILE) return null;
    const p = this.deps.profiles[name];
    if (!p) {
      const known = Object.keys(this.deps.profiles);
      throw new BadInputError(
        'source',
        `no migration profile named ${JSON.stringify(name)}; configured: ${known.length ? known.join(', ') : 'none'} (define one with MIGRATION_<NAME>_RELATIONAL_DB_* and MIGRATION_<NAME>_VECTOR_DB_*)`,
      );
    }
    return p;
  }

  /**
   * Ends the write freeze a live job's cutover left on a source profile (a rollback to it): the freeze
   * row and its refusing triggers go, and the freeze of the profile's vector store. A change capture
   * left by a job that is not running here (its process died, it was cancelled) is removed too. Returns
   * whether anything was frozen.
   */
  async unfreeze(name: string): Promise<boolean> {
    const profile = this.profile(name);
    if (!profile) throw new BadInputError('source', 'the active providers are never frozen by a migration; name the source profile');
    const writer = createRelationalDb(profile.relational, { entities: [...this.target.relational.hostEntities] });
    await writer.connect();
    try {
      const capture = new ChangeCapture(writer, relationalTables(writer).map((m) => ({ meta: m, name: datasetNameOf(m) })));
      const was = await capture.frozen();
      await capture.unfreeze();
      const owner = await capture.owner();
      if (owner) {
        const job = await this.target.relational.repository(MigrationJobEntity).findOne({ where: { id: owner } });
        if (!job || !['RUNNING', 'PENDING'].includes(job.status)) await capture.remove(false);
      }
      return (await this.unfreezeVectors(profile, writer)) || was;
    } finally {
      await writer.close();
    }
  }

  /** Ends the freeze of a profile's vector store (a live VECTORS job's cutover). False if it was not frozen or cannot be opened. */
  private async unfreezeVectors(profile: ProviderProfile, writer: RelationalDb): Promise<boolean> {
    const freezes = new VectorFreezeRepository(writer);
    if (!(await freezes.frozenStores().catch(() => [])).length) return false;
    const db = createVectorDb(profile.vector, null);
    try {
      await db.init({ createIfMissing: false });
      return await freezes.unfreeze(await db.identity());
    } catch (e) {
      // A store that is gone cannot be frozen; one that does not answer is said so (its freeze stays).
      if (e instanceof SwitchyardError && e.code === 'NOT_FOUND') return false;
      throw e;
    } finally {
      await db.close();
    }
  }

  /** Opens a source relational DB without running migrations on it (it is only read). */
  async openRelational(name: string): Promise<{ db: RelationalDb; close(): Promise<void> }> {
    const profile = this.profile(name);
    if (!profile) return { db: this.target.relational, close: async () => undefined };
    const c = profile.relational;
    if (c.provider === 'sqlite' && c.database !== ':memory:' && !existsSync(c.database)) {
      throw new ProviderUnavailableError(`source "${name}" SQLite database`, new Error(`${path.resolve(c.database)} does not exist`));
    }
    // Read-only: SQLite opened readonly (no WAL switch, no file created), PostgreSQL sessions read-only.
    // With the host's entities, so its tables are read too; a 0.1 layout (unprefixed) is read as it is.
    const db = createRelationalDb(c, { readOnly: true, entities: [...this.target.relational.hostEntities] });
    try {
      await db.init();
    } catch (e) {
      throw new ProviderUnavailableError(`source "${name}" ${c.provider} relational database at ${db.label}`, e instanceof ProviderUnavailableError ? e.cause : e);
    }
    const tables = relationalTables(db).map((m) => m.tableName);
    const pending = (await db.pendingSchemaChanges()).filter((q) => tables.some((t) => q.includes(`"${t}"`)));
    if (pending.length) {
      await db.close();
      throw new SwitchyardError(
        'MIGRATION_STATE',
        `The source "${name}" at ${db.label} does not have this version's schema (it would need: ${pending[0]}${pending.length > 1 ? ` and ${pending.length - 1} more` : ''}). Start Switchyard once on it so its migrations run, then migrate.`,
        { source: name },
      );
    }
    return { db, close: () => db.close() };
  }

  /** Opens a source vector store read-only, with the dimension it was built with. */
  async openVector(name: string): Promise<{ db: VectorDb; close(): Promise<void> }> {
    const profile = this.profile(name);
    if (!profile) return { db: this.target.vector, close: async () => undefined };
    let db = createVectorDb(profile.vector, null);
    await db.init({ createIfMissing: false });
    const stored = (await db.describe()).storedDimensions;
    if (stored && stored !== profile.vector.dimensions) {
      await db.close();
      db = createVectorDb({ ...profile.vector, dimensions: stored }, null);
      await db.init({ createIfMissing: false });
    }
    return { db, close: () => db.close() };
  }

  private base(job: MigrationJobEntity, steps: Step[], source: PlanSide, target: PlanSide, close: () => Promise<void>): JobContext {
    return { job, steps, source, target, refusal: null, warnings: [], resumable: true, backups: true, clearOnOverwrite: false, close };
  }

  /** One step per table of the job (parents first), into the target's table, from what `sourceOf` reads for it. */
  private tableSteps(job: MigrationJobEntity, sourceOf: (target: RelationalTable) => DataReader<ColumnRow>): Step[] {
    const db = this.target.relational;
    return relationalTables(db, (job.options as JobOptions | null)?.tables).map((meta) => {
      const target = new RelationalTable(db, meta.target, rulesFor(db, meta, { maxDocumentBytes: this.deps.maxDocumentBytes }));
      const source = sourceOf(target);
      target.setSelfRefSource(source);
      return {
        name: target.name,
        kind: 'table',
        source,
        target,
        scan: source,
        check: { target, hash: (r) => rowHash(target.io, r) },
        backupKind: 'table',
        backup: async (tag) => {
          // The snapshot's own count is what the copier checks against the store before emptying it; the
          // checksum (of the store right after the snapshot) is what a restore is verified against.
          const name = await target.snapshot(tag);
          const rows = await target.snapshotCount(name);
          const sum = await checksumOf(target, (r) => rowHash(target.io, r), 1000);
          return { step: target.name, kind: 'table', name, rows, checksum: sum.count === rows ? sum.hex : null, createdAt: new Date().toISOString() };
        },
      } satisfies Step;
    });
  }

  private async relational(job: MigrationJobEntity, live = (job.options as JobOptions | null)?.live === true): Promise<JobContext> {
    const src = await this.openRelational(job.source);
    const ctx = this.base(job, this.tableSteps(job, (t) => new RelationalTable(src.db, sourceTable(src.db, t.meta))), { profile: job.source, relational: src.db.label }, this.activeSide('relational'), src.close);
    ctx.refusal = await sameStore(job.source, { label: src.db.label, identity: () => src.db.identity() }, { label: this.target.relational.label, identity: () => this.target.relational.identity() });
    ctx.refusal ??= await this.missingTargetTables(ctx.steps);
    if (live && !ctx.refusal && !job.dryRun) await goLiveRelational(job, ctx, this.profile(job.source)!, this.target.relational.hostEntities);
    return ctx;
  }

  /** A target without some of the job's tables (a host's schema not migrated there yet) is refused before any write. */
  private async missingTargetTables(steps: Step[]): Promise<SwitchyardError | null> {
    const missing = await this.target.relational.missingTables(steps.map((s) => (s.target as RelationalTable).table));
    if (!missing.length) return null;
    return new SwitchyardError(
      'MIGRATION_STATE',
      `The target ${this.target.relational.label} has no table ${missing.map((t) => JSON.stringify(t)).join(', ')}: create the host app's schema there first (its TypeORM migrations, or synchronize in development), then migrate. Nothing was written.`,
      { missing },
    );
  }

  private activeSide(which: 'relational' | 'vector', vector?: VectorStoreInfo): PlanSide {
    return which === 'relational' ? { profile: ACTIVE_PROFILE, relational: this.target.relational.label } : { profile: ACTIVE_PROFILE, vector: vector && vectorSide(vector) };
  }

  /** Backs a collection up into an NDJSON file in the data dir, fsynced, with the count and checksum of what it holds. */
  private collectionBackup(coll: VectorCollection, step: string) {
    return (tag: string): Promise<Backup> => backUpCollection(this.deps.dataDir, coll, step, tag);
  }


  /** A step that moves vector records from `source` into the target collection (named after it). */
  private vectorStep(kind: PlanStep['kind'], source: DataReader<VectorRecord>, scan: DataReader<VectorRecord> = source, hash = vectorHash, into: VectorDb = this.target.vector): Step<VectorRecord> {
    const target = new VectorCollection(into);
    return { name: target.name, kind, source, target, scan, check: { target, hash }, backupKind: 'file', backup: this.collectionBackup(target, target.name) };
  }

  /**
   * Refuses vectors the target cannot take as they are: other dimension, other metric, other model, or a
   * target store built with other dimensions / model (unless it is being emptied).
   */
  private async vectorRefusal(incoming: IncomingVectors, policy: ConflictPolicy): Promise<SwitchyardError | null> {
    const t = await this.target.vector.describe();
    const tgt = `${vectorLabel(t)} is configured for ${t.dimensions} dimensions (VECTOR_DB_DIMENSIONS=${t.dimensions}${t.model ? `, embedding model "${t.model}"` : ''})`;
    const details = { source: incoming, target: vectorSide(t) };
    if (incoming.dimensions !== null && incoming.dimensions !== t.dimensions) {
      return new SwitchyardError(
        'DIMENSION_MISMATCH',
        `Cannot copy vectors: ${incoming.label} holds ${incoming.dimensions}-dimensional vectors${incoming.model ? ` made with "${incoming.model}"` : ''}, but ${tgt}. ` +
          `Vectors cannot change dimension: re-index the documents with the target's model instead (migration kind REINDEX), or set VECTOR_DB_DIMENSIONS=${incoming.dimensions} to keep these vectors. Nothing was written.`,
        details,
      );
    }
    if (incoming.metric && incoming.metric !== 'cosine') {
      return new SwitchyardError(
        'METRIC_MISMATCH',
        `Cannot copy vectors: ${incoming.label} uses the ${incoming.metric} distance but ${vectorLabel(t)} uses cosine; scores would change meaning. Re-index instead (migration kind REINDEX). Nothing was written.`,
        details,
      );
    }
    if (incoming.model && t.model && incoming.model !== t.model) {
      return new SwitchyardError(
        'MODEL_MISMATCH',
        `Cannot copy vectors: ${incoming.label} was embedded with "${incoming.model}" but the target is configured for "${t.model}"; queries would be embedded with another model. Re-index instead (migration kind REINDEX), or configure "${incoming.model}". Nothing was written.`,
        details,
      );
    }
    if (t.mismatch && policy !== 'TRUNCATE') {
      return new SwitchyardError(mismatchCode(t), `${t.mismatch} To replace its content use onConflict TRUNCATE (a backup is taken first). Nothing was written.`, details);
    }
    return null;
  }

  /** Records on the target store the model its copied vectors were made with. */
  private async adoptModel(model: string | null, into: VectorDb = this.target.vector): Promise<void> {
    if (model && (await into.describe()).storedModel !== model) await into.recordModel(model);
  }

  /**
   * A live migration follows the app's writes on its source while it copies; a Chroma persist directory
   * is read without its server and must not change meanwhile: refused before anything is frozen.
   */
  private liveRefusal(profile: string): SwitchyardError | null {
    const v = this.profile(profile)?.vector;
    if (v?.provider !== 'chromadb' || !v.persistDir) return null;
    return new BadInputError('live', `the source profile "${profile}" reads a Chroma persist directory (MIGRATION_${profile.toUpperCase()}_VECTOR_DB_CHROMA_PERSIST_DIR), which must not change while it is read: a live migration cannot follow writes there. Stop the server and run the copy without live, or read the collection through its server (VECTOR_DB_CHROMA_URL) for a live one. Nothing was written.`);
  }

  private async vectors(job: MigrationJobEntity, live = (job.options as JobOptions | null)?.live === true): Promise<JobContext> {
    const src = await this.openVector(job.source);
    const info = await src.db.describe();
    const targetInfo = await this.target.vector.describe();
    const step = this.vectorStep('collection', new VectorCollection(src.db));
    const ctx = this.base(job, [step], { profile: job.source, vector: vectorSide(info) }, this.activeSide('vector', targetInfo), src.close);
    const side = vectorSide(info);
    ctx.refusal = await sameStore(job.source, { label: vectorLabel(info), identity: () => src.db.identity() }, { label: vectorLabel(targetInfo), identity: () => this.target.vector.identity() });
    if (!ctx.refusal) {
      ctx.refusal = await this.vectorRefusal({ label: `the source ${vectorLabel(info)}`, dimensions: side.dimensions, metric: side.metric, model: info.storedModel }, job.onConflict as ConflictPolicy);
    }
    if (!ctx.refusal && live) ctx.refusal = this.liveRefusal(job.source);
    if (!info.storedModel) ctx.warnings.push(`the source ${vectorLabel(info)} does not record which embedding model made its vectors; make sure it is the target's.`);
    ctx.after = () => this.adoptModel(info.storedModel);
    ctx.recall = { side: 'source', measure: (samples) => compareNeighbours(src.db, this.target.vector, samples) };
    ctx.exactRecall = (samples) => exactRecall(this.target.vector, samples);
    ctx.orphans = { documents: new DocumentsRepository(this.target.relational), label: this.target.relational.label, required: live };
    if (live && !ctx.refusal && !job.dryRun) await goLiveVectors(job, ctx, this.profile(job.source)!, src.db, this.target);
    return ctx;
  }

  /**
   * The whole stack in one job (the seed guide's dev -> prod): every table, then the vectors, from one
   * source profile into the active providers; one plan, one verification (the vectors' documents are
   * looked up in the target's own tables), and live: one capture, one freeze, one cutover.
   */
  private async fullStack(job: MigrationJobEntity): Promise<JobContext> {
    const rel = await this.relational(job, false);
    let vec: JobContext;
    try {
      vec = await this.vectors(job, false);
    } catch (e) {
      await rel.close();
      throw e;
    }
    const ctx = this.base(job, [...rel.steps, ...vec.steps], { ...rel.source, ...vec.source }, { ...rel.target, ...vec.target }, async () => {
      await vec.close();
      await rel.close();
    });
    ctx.refusal = rel.refusal ?? vec.refusal ?? ((job.options as JobOptions | null)?.live ? this.liveRefusal(job.source) : null);
    ctx.warnings.push(...rel.warnings, ...vec.warnings);
    ctx.after = vec.after;
    ctx.recall = vec.recall;
    ctx.exactRecall = vec.exactRecall;
    ctx.orphans = { ...vec.orphans!, required: true };
    if ((job.options as JobOptions | null)?.live && !ctx.refusal && !job.dryRun) {
      const src = vec.steps[0].source as VectorCollection;
      await goLiveStack(job, ctx, this.profile(job.source)!, this.target.relational.hostEntities, src.db, this.target.vector);
    }
    return ctx;
  }

  /**
   * Where a re-index writes: the active store, or (BLUE_GREEN) the generation it builds beside it: the
   * one it recorded before (a resume), or a new one on its first run. A verification reads the one it
   * built in whatever state (nothing is created); a run refuses one that is not BUILDING any more.
   */
  private async reindexInto(job: MigrationJobEntity, o: { readOnly?: boolean; partition?: boolean }): Promise<{ vec: VectorDb; embeddings: Embeddings | undefined; blueGreen?: { generations: ModelGenerations; building: boolean } }> {
    if ((job.options as JobOptions | null)?.mode !== 'BLUE_GREEN') return { vec: this.target.vector, embeddings: this.deps.embeddings };
    const generations = this.deps.generations;
    if (!generations) throw new BadInputError('mode', 'a BLUE_GREEN re-index needs the app\'s embedding generations (KnowledgeModule, or EMBEDDINGS_NEXT_* for `switchyard worker`), and none were given to the migration service');
    // A verification reads the generation in any state; a worker writes only the BUILDING one the coordinator recorded; a run may record it.
    const g = o.readOnly ? await generations.ofJob(job.id) : o.partition ? await generations.buildingOf(job.id) : await generations.building(job.id);
    if (!g) throw new SwitchyardError('MIGRATION_STATE', `job ${job.id} never recorded the generation it builds${o.readOnly ? '; there is nothing to verify' : ''}`, { jobId: job.id });
    return { vec: g.vectors, embeddings: g.embeddings, blueGreen: { generations, building: g.generation.state === 'BUILDING' } };
  }

  private async reindex(job: MigrationJobEntity, o: { readOnly?: boolean; partition?: boolean }): Promise<JobContext> {
    const { vec, embeddings, blueGreen } = await this.reindexInto(job, o);
    const rel = this.target.relational;
    if (!embeddings) throw new BadInputError('embeddings', 'a re-index needs the embeddings model (EMBEDDINGS_*), and none was given to the migration service');
    await embeddings.init();
    const t = await vec.describe();
    const scan = new ReindexSource(rel, vec, this.deps.chunk, null);
    // A new generation starts empty and is built whole (a resume goes on from the checkpoint).
    const incremental = !blueGreen && !(job.options as JobOptions | null)?.full;
    const step = { ...this.vectorStep('documents', new ReindexSource(rel, vec, this.deps.chunk, embeddings, incremental, !blueGreen), scan, recordFieldsHash, vec), backupOnFirstWrite: incremental, wholeTarget: true };
    // The verification compares fields (recordFieldsHash): it reads them without the embeddings; the
    // recall samples below read theirs (a few dozen records).
    step.check = { target: new VectorCollection(vec, { fields: true }), hash: recordFieldsHash };
    // The app writes a generation being built too: its HNSW index stays during the load (a rebuild at the
    // end would hold every app write to it for as long as the build takes).
    if (blueGreen) step.target = Object.assign(Object.create(step.target) as typeof step.target, { prepare: undefined });
    const ctx = this.base(
      job,
      [step],
      { profile: ACTIVE_PROFILE, relational: rel.label, embeddings: { model: embeddings.model, dimensions: embeddings.dimensions } },
      this.activeSide('vector', t),
      async () => undefined,
    );
    const policy = job.onConflict as ConflictPolicy;
    const rebuild = t.mismatch !== null || (t.storedModel !== null && t.storedModel !== embeddings.model);
    // A new generation: nothing was in it before this job but the app's own writes of new and changed
    // documents, which must stay (it is never emptied); there is nothing of the past to back up.
    ctx.clearOnOverwrite = rebuild && !blueGreen;
    if (blueGreen) ctx.backups = false;
    if (embeddings.dimensions !== t.dimensions) {
      ctx.refusal = new SwitchyardError(
        'DIMENSION_MISMATCH',
        `The embeddings model "${embeddings.model}" makes ${embeddings.dimensions}-dimensional vectors but ${vectorLabel(t)} is configured for ${t.dimensions} (VECTOR_DB_DIMENSIONS). Set VECTOR_DB_DIMENSIONS=${embeddings.dimensions} and restart, then re-index. Nothing was written.`,
        { model: embeddings.model, dimensions: embeddings.dimensions, target: vectorSide(t) },
      );
    } else if (rebuild && blueGreen) {
      ctx.refusal = new SwitchyardError('MIGRATION_STATE', `${vectorLabel(t)}, the generation this job builds, holds vectors of another model (${t.mismatch ?? `"${t.storedModel}"`}); drop it (dropModelGeneration) and start again. Nothing was written.`, { target: vectorSide(t) });
    } else if (rebuild && policy !== 'TRUNCATE' && policy !== 'OVERWRITE') {
      const why = t.mismatch ?? `${vectorLabel(t)} was built with embedding model "${t.storedModel}", not "${embeddings.model}".`;
      ctx.refusal = new SwitchyardError(mismatchCode(t), `${why} Re-index with onConflict TRUNCATE (or OVERWRITE) to rebuild it with "${embeddings.model}"; a backup is taken first. Nothing was written.`, { target: vectorSide(t) });
    }
    const frozenBy = await new VectorFreezeRepository(rel).frozenBy(await vec.identity());
    if (frozenBy !== null && !ctx.refusal) {
      ctx.refusal = new SwitchyardError(
        'MAINTENANCE',
        `${vectorLabel(t)} is frozen by the live migration ${frozenBy || '(unknown)'}: it is being cut over, or was, to another store. Point the app at the new store (.env, restart) and re-index there, or roll back (unfreezeSource / switchyard unfreeze) first. Nothing was written.`,
        { frozenBy },
      );
    }
    ctx.before = () => this.adoptModel(embeddings.model, vec);
    if (blueGreen?.building) {
      const { generations } = blueGreen;
      // Keys the app changed during the comparison: compared again against the generation searches use now.
      ctx.settle = async (ids) => {
        await generations.list(); // read now, not as last polled
        return settleAgainst((await generations.active()).vectors, vec, ids);
      };
      // Still the generation being built at the end (a drop may have come meanwhile): else the job fails.
      ctx.after = async () => void (await generations.buildingOf(job.id));
    }
    ctx.sampleCost = async (page) => {
      const texts = (page.items as VectorRecord[]).slice(0, 32).map((r) => r.content);
      if (!texts.length) return 0;
      const t0 = Date.now();
      await embeddings.embed(texts);
      return (Date.now() - t0) / texts.length;
    };
    ctx.recall = { side: 'target', measure: async (samples) => selfRetrieval(embeddings, vec, await withEmbeddings(vec, samples)) };
    ctx.exactRecall = async (samples) => exactRecall(vec, await withEmbeddings(vec, samples));
    return ctx;
  }

  private async exportData(job: MigrationJobEntity, dataset: DatasetKind, options: JobOptions): Promise<JobContext> {
    const file = resolveDataPath(this.deps.dataDir, options.path ?? '').full;
    const out = new NdjsonWriter(file);
    let ctx: JobContext;
    let header: ExportHeader;
    if (dataset === 'RELATIONAL') {
      const src = await this.openRelational(job.source);
      const steps = relationalTables(src.db, options.tables).map((meta) => {
        const source = new RelationalTable(src.db, meta.target);
        const section = new NdjsonSection(file, source);
        return { name: source.name, kind: 'table', source, target: new NdjsonSink(out, source), scan: source, check: { target: section, hash: (r) => rowHash(source.io, r) } } satisfies Step;
      });
      ctx = this.base(job, steps, { profile: job.source, relational: src.db.label }, { profile: job.target, file: options.path }, src.close);
      header = { format: 'switchyard-ndjson', version: 1, kind: 'RELATIONAL', createdAt: new Date().toISOString(), source: src.db.label, tables: steps.map((s) => s.name) };
    } else {
      const src = await this.openVector(job.source);
      const source = new VectorCollection(src.db);
      const step: Step<VectorRecord> = { name: source.name, kind: 'collection', source, target: new NdjsonSink(out, source), scan: source, check: { target: new NdjsonSection(file, source), hash: vectorHash } };
      ctx = this.base(job, [step], { profile: job.source, vector: vectorSide(await src.db.describe()) }, { profile: job.target, file: options.path }, src.close);
      header = await vectorHeader(src.db, source.label);
    }
    ctx.resumable = false;
    ctx.backups = false;
    if (existsSync(file) && !options.overwrite) {
      ctx.refusal = new SwitchyardError('CONFLICT', `${options.path} already exists in the data dir; choose another path or export with overwrite. Nothing was written.`, { path: options.path });
    }
    ctx.before = () => out.open(header);
    ctx.after = async () => void (await out.commit());
    ctx.abort = () => out.abort();
    return ctx;
  }

  private async importData(job: MigrationJobEntity, dataset: DatasetKind, options: JobOptions): Promise<JobContext> {
    const file = resolveDataPath(this.deps.dataDir, options.path ?? '').full;
    const header = await readHeader(file);
    if (header.kind !== dataset) throw new BadInputError('kind', `${options.path} holds a ${header.kind} export, not ${dataset}`);
    const source: PlanSide = { profile: job.source, file: options.path };
    if (dataset === 'RELATIONAL') return this.base(job, this.tableSteps(job, (t) => new NdjsonSection(file, t)), source, this.activeSide('relational'), async () => undefined);
    return this.vectorFileContext(job, file, header, source, job.onConflict as ConflictPolicy);
  }

  /** Loads a vector export file into the target collection (import, or restoring a backup). */
  private async vectorFileContext(job: MigrationJobEntity, file: string, header: ExportHeader, source: PlanSide, policy: ConflictPolicy): Promise<JobContext> {
    const target = new VectorCollection(this.target.vector);
    const section = new NdjsonSection(file, target);
    const ctx = this.base(job, [this.vectorStep('file', section)], source, this.activeSide('vector', await this.target.vector.describe()), async () => undefined);
    ctx.refusal = await this.vectorRefusal({ label: `the file ${path.basename(file)}`, dimensions: header.dimensions ?? null, metric: header.metric ?? null, model: header.model ?? null }, policy);
    ctx.after = () => this.adoptModel(header.model ?? null);
    return ctx;
  }

  /**
   * Puts back the backups a job took: snapshot tables are restored in place, vector files are re-loaded,
   * steps that were empty are emptied. Verified against the count and checksum recorded with each backup.
   */
  private async restore(job: MigrationJobEntity): Promise<JobContext> {
    const from = (job.options as JobOptions).fromJob ?? '';
    const original = await this.target.relational.repository(MigrationJobEntity).findOne({ where: { id: from } });
    if (!original) throw new SwitchyardError('NOT_FOUND', `migration job ${JSON.stringify(from)} does not exist`);
    const backups = (original.backups ?? []) as Backup[];
    if (!backups.length) throw new SwitchyardError('MIGRATION_STATE', `job ${from} took no backup (only TRUNCATE and OVERWRITE runs do)`);
    const steps: Step[] = [];
    let ctx: JobContext | null = null;
    const expected = (b: Backup) => ({ count: b.rows, checksum: b.empty ? new Checksum().hex : (b.checksum ?? null) });
    for (const b of backups) {
      if (b.kind === 'table') {
        const meta = this.target.relational.dataSource.entityMetadatas.find((m) => datasetNameOf(m) === b.step);
        if (!meta) throw new SwitchyardError('MIGRATION_STATE', `backup ${b.name} is of a table ${b.step} that no entity describes`);
        const table = new RelationalTable(this.target.relational, meta.target);
        const run = () => (b.empty ? table.clear() : table.restore(b.name));
        steps.push({ name: b.step, kind: 'table', source: table, target: table, scan: table, run, check: { target: table, hash: (r) => rowHash(table.io, r) }, expected: expected(b) });
      } else if (b.empty) {
        const coll = new VectorCollection(this.target.vector);
        steps.push({ name: b.step, kind: 'collection', source: coll, target: coll, scan: coll, run: () => coll.clear(), check: { target: coll, hash: vectorHash }, expected: expected(b) });
      } else {
        const file = resolveDataPath(this.deps.dataDir, b.name).full;
        ctx = await this.vectorFileContext(job, file, await readHeader(file), { profile: job.source, file: b.name }, 'TRUNCATE');
        steps.push(...ctx.steps.map((s) => ({ ...s, expected: b.checksum ? expected(b) : undefined })));
      }
    }
    const result = ctx ?? this.base(job, [], { profile: job.source }, this.activeSide('relational'), async () => undefined);
    result.steps = steps;
    result.backups = false;
    return result;
  }
}

/**
 * Of these chunk ids, those whose records differ between the app's active store and a generation being
 * built beside it (text, ids, metadata; not the embeddings, which are another model's): the app writes
 * both under the document's lock, so a difference that a concurrent write explains is gone after a few
 * short rounds; one that stays is real.
 */
async function settleAgainst(active: VectorDb, built: VectorDb, ids: string[], rounds = 5): Promise<string[]> {
  let left = ids;
  for (let round = 0; round < rounds && left.length; round++) {
    if (round) await new Promise((r) => setTimeout(r, 200));
    const [a, b] = await Promise.all([active.records(left), built.records(left)]);
    const ha = new Map(a.map((r) => [r.id, recordFieldsHash(r)]));
    const hb = new Map(b.map((r) => [r.id, recordFieldsHash(r)]));
    left = left.filter((id) => ha.get(id) !== hb.get(id));
  }
  return left;
}
