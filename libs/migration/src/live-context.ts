import { ProviderProfile, SwitchyardError } from '@switchyard/core';
import { ChangeCapture, createRelationalDb, datasetNameOf, DocumentEntity, MigrationJobEntity, RelationalDb, VectorFreezeRepository } from '@switchyard/relational-db';
import type { VectorDb } from '@switchyard/vector-db';
import type { EntityMetadata } from 'typeorm';
import type { JobContext } from './job-context';
import { LiveJob, LiveSync } from './live-sync';
import { VectorLiveSync } from './live-vectors';
import { StackLiveSync } from './live-stack';
import type { RelationalTable } from './relational-table';

/** The source's table for a target table: the same dataset (the same entity, or the join table of the same name). */
export function sourceTable(db: RelationalDb, target: EntityMetadata): EntityMetadata['target'] {
  const name = datasetNameOf(target);
  const meta = db.dataSource.entityMetadatas.find((m) => datasetNameOf(m) === name);
  if (!meta) throw new SwitchyardError('INTERNAL', `the source has no table ${name}`);
  return meta.target;
}

/**
 * Builds the live part of a job on a second, writable handle on the source profile's relational database
 * (connected only, no schema migration) and installs it into the job's context: capture before the
 * copy, abort on failure, the handle closed with the context, or at once when building fails.
 */
async function goLive(
  ctx: JobContext,
  profile: ProviderProfile,
  hostEntities: readonly unknown[],
  build: (writer: RelationalDb) => Promise<{ live: LiveJob; refusal: SwitchyardError | null }>,
): Promise<void> {
  const writer = createRelationalDb(profile.relational, { entities: [...hostEntities] as never });
  let built: { live: LiveJob; refusal: SwitchyardError | null };
  try {
    await writer.connect();
    built = await build(writer);
  } catch (e) {
    await writer.close().catch(() => undefined);
    throw e;
  }
  attach(ctx, built.live, writer);
  ctx.refusal = built.refusal;
}

function attach(ctx: JobContext, live: LiveJob, writer: RelationalDb): void {
  const close = ctx.close;
  const before = ctx.before;
  Object.assign(ctx, {
    live,
    before: async () => {
      await before?.();
      await live.install();
    },
    // Every stop keeps capturing (the resumed run catches up on what was written meanwhile).
    abort: () => live.abort(),
    close: async () => {
      await close();
      await writer.close();
    },
  });
}

/** A live RELATIONAL job: triggers on every table it moves, the database's own freeze. */
export function goLiveRelational(job: MigrationJobEntity, ctx: JobContext, profile: ProviderProfile, hostEntities: readonly unknown[]): Promise<void> {
  return goLive(ctx, profile, hostEntities, async (writer) => {
    const tables = ctx.steps.map((s) => ({ name: s.name, source: s.source as RelationalTable, target: s.target as RelationalTable }));
    const capture = new ChangeCapture(writer, tables.map((t) => ({ meta: writer.metadata(sourceTable(writer, t.source.meta)), name: t.name })), job.id);
    return { live: new LiveSync(capture, tables, job.id), refusal: await capture.refusal() };
  });
}

/**
 * A live VECTORS job: the source profile's relational database is where the app records every write of a
 * document (its row changes before the first chunk and after the last), so triggers on its `documents`
 * table, keyed by (user, document), name the documents whose chunks changed.
 */
export function goLiveVectors(job: MigrationJobEntity, ctx: JobContext, profile: ProviderProfile, source: VectorDb, target: { relational: RelationalDb; vector: VectorDb }): Promise<void> {
  return goLive(ctx, profile, [], async (writer) => {
    const capture = new ChangeCapture(writer, [{ meta: writer.metadata(DocumentEntity), name: 'documents', key: ['user_id', 'external_id'] }], job.id);
    const sourceStore = await source.identity();
    const freezes = new VectorFreezeRepository(writer);
    const targetFreeze = { freezes: new VectorFreezeRepository(target.relational), store: await target.vector.identity() };
    return {
      live: new VectorLiveSync(capture, writer, source, target.vector, sourceStore, ctx.steps[0].name, job.id, 'documents', targetFreeze),
      refusal: await liveVectorsRefusal(job, writer, target.relational, freezes, sourceStore, capture),
    };
  });
}

/** Why a live VECTORS job cannot run (found before any write), or null. */
async function liveVectorsRefusal(job: MigrationJobEntity, writer: RelationalDb, targetRelational: RelationalDb, freezes: VectorFreezeRepository, sourceStore: string, capture: ChangeCapture): Promise<SwitchyardError | null> {
  const [a, b] = await Promise.all([writer.identity(), targetRelational.identity()]);
  if (a !== b) {
    return new SwitchyardError(
      'BAD_INPUT',
      `A live VECTORS job moves the vector store of an app whose relational database stays: the source profile's (${writer.label}) is not the active one (${targetRelational.label}). Documents written during the job would have no row in the target. Move both in one job instead (kind FULL_STACK). Nothing was written.`,
      { source: writer.label, target: targetRelational.label },
    );
  }
  let by: string | null;
  try {
    by = await freezes.frozenBy(sourceStore);
  } catch (e) {
    return new SwitchyardError('MIGRATION_STATE', `The source ${writer.label} has no vector freeze table: start this version of Switchyard on it once (its schema migrations add it), then migrate live. Nothing was written. (${e instanceof Error ? e.message : String(e)})`);
  }
  if (by !== null && by !== job.id) {
    return new SwitchyardError('MIGRATION_STATE', `The source vector store is frozen by the cutover of migration job ${by || '(unknown)'}; it is an old store now. Roll back to it first (unfreezeSource / switchyard unfreeze). Nothing was written.`, { frozenBy: by });
  }
  return capture.refusal();
}

/**
 * A live FULL_STACK job: one capture on the source's relational database with the triggers of both (every
 * table's rows; the documents again, keyed by (user, document), for their vectors) and the database's own
 * freeze, which stops the source app's vector writes too (each of them changes the document's row first).
 */
export function goLiveStack(job: MigrationJobEntity, ctx: JobContext, profile: ProviderProfile, hostEntities: readonly unknown[], source: VectorDb, target: VectorDb): Promise<void> {
  return goLive(ctx, profile, hostEntities, async (writer) => {
    const tableSteps = ctx.steps.filter((s) => s.kind === 'table');
    const vectorStep = ctx.steps.find((s) => s.kind === 'collection');
    if (!vectorStep) throw new SwitchyardError('INTERNAL', 'a whole-stack job has a vector step');
    const tables = tableSteps.map((s) => ({ name: s.name, source: s.source as RelationalTable, target: s.target as RelationalTable }));
    const VECTOR_LOG = 'documents#vectors';
    const capture = new ChangeCapture(
      writer,
      [
        ...tables.map((t) => ({ meta: writer.metadata(sourceTable(writer, t.source.meta)), name: t.name })),
        { meta: writer.metadata(DocumentEntity), name: VECTOR_LOG, key: ['user_id', 'external_id'] },
      ],
      job.id,
    );
    const refusal = await capture.refusal();
    const rows = new LiveSync(capture, tables, job.id);
    const vectors = new VectorLiveSync(capture, writer, source, target, await source.identity(), vectorStep.name, job.id, VECTOR_LOG);
    return { live: new StackLiveSync(capture, rows, vectors, job.id), refusal };
  });
}
