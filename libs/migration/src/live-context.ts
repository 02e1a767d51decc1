import { ProviderProfile, SwitchyardError } from '@switchyard/core';
import { ChangeCapture, createRelationalDb, datasetNameOf, DocumentEntity, MigrationJobEntity, RelationalDb } from '@switchyard/relational-db';
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

/** A second, writable handle on a source profile's relational database (connected only, no schema migration). */
async function openWriter(profile: ProviderProfile, hostEntities: readonly unknown[]): Promise<RelationalDb> {
  const writer = createRelationalDb(profile.relational, { entities: [...hostEntities] as never });
  await writer.connect();
  return writer;
}

/** Installs `live` into the job's context: capture before the copy, abort on failure, the writer closed with the context. */
function attach(ctx: JobContext, live: LiveJob, writer: RelationalDb): void {
  const close = ctx.close;
  const before = ctx.before;
  Object.assign(ctx, {
    live,
    before: async () => {
      await before?.();
      await live.install();
    },
    // A shutdown keeps capturing (the resumed run catches up on what was written meanwhile).
    abort: (reason: 'shutdown' | 'failed') => live.abort(reason === 'shutdown'),
    close: async () => {
      await close();
      await writer.close();
    },
  });
}

/** A live RELATIONAL job: triggers on every table it moves, the database's own freeze. */
export async function goLiveRelational(job: MigrationJobEntity, ctx: JobContext, profile: ProviderProfile, hostEntities: readonly unknown[]): Promise<void> {
  const writer = await openWriter(profile, hostEntities);
  const tables = ctx.steps.map((s) => ({ name: s.name, source: s.source as RelationalTable, target: s.target as RelationalTable }));
  const capture = new ChangeCapture(writer, tables.map((t) => ({ meta: writer.metadata(sourceTable(writer, t.source.meta)), name: t.name })), job.id);
  attach(ctx, new LiveSync(capture, tables, job.id), writer);
}

/**
 * A live VECTORS job: the source profile's relational database is where the app records every write of a
 * document (its row changes before the first chunk and after the last), so triggers on its `documents`
 * table, keyed by (user, document), name the documents whose chunks changed.
 */
export async function goLiveVectors(job: MigrationJobEntity, ctx: JobContext, profile: ProviderProfile, source: VectorDb, target: VectorDb): Promise<void> {
  const writer = await openWriter(profile, []);
  const capture = new ChangeCapture(writer, [{ meta: writer.metadata(DocumentEntity), name: 'documents', key: ['user_id', 'external_id'] }], job.id);
  attach(ctx, new VectorLiveSync(capture, writer, source, target, await source.identity(), ctx.steps[0].name, job.id), writer);
}

/**
 * A live FULL_STACK job: one capture on the source's relational database with the triggers of both (every
 * table's rows; the documents again, keyed by (user, document), for their vectors) and the database's own
 * freeze, which stops the source app's vector writes too (each of them changes the document's row first).
 */
export async function goLiveStack(job: MigrationJobEntity, ctx: JobContext, profile: ProviderProfile, hostEntities: readonly unknown[], source: VectorDb, target: VectorDb): Promise<void> {
  const writer = await openWriter(profile, hostEntities);
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
  const rows = new LiveSync(capture, tables, job.id);
  const vectors = new VectorLiveSync(capture, writer, source, target, await source.identity(), vectorStep.name, job.id, VECTOR_LOG);
  attach(ctx, new StackLiveSync(capture, rows, vectors, job.id), writer);
}
