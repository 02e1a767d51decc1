import * as path from 'node:path';
import { SwitchyardError } from '@switchyard/core';
import type { VectorRecord } from '@switchyard/vector-db';
import { Checksum, vectorHash } from './checksum';
import { DataWriter, NdjsonSink, VectorCollection } from './datasets';
import type { Backup } from './migration.types';
import { NdjsonWriter, resolveDataPath } from './ndjson';
import { copyPages } from './pipeline';
import { vectorHeader } from './vector-checks';

/**
 * Writes every record of a vector collection to `backups/<name>_backup_<tag>.ndjson` in the data dir
 * (an export file: `importData` / `restoreBackup` read it back), committed only once whole, and returns
 * it counted and checksummed. The caller compares the count with the store before destroying anything.
 */
export async function backUpCollection(dataDir: string, coll: VectorCollection, step: string, tag: string): Promise<Backup> {
  const { full, relative } = resolveDataPath(dataDir, path.join('backups', `${coll.name}_backup_${tag}.ndjson`));
  const out = new NdjsonWriter(full);
  await out.open(await vectorHeader(coll.db, `backup of ${coll.label}`));
  const sum = new Checksum();
  const sink = new NdjsonSink(out, coll);
  const counted: DataWriter<VectorRecord> = Object.assign(Object.create(sink) as DataWriter<VectorRecord>, {
    write: async (items: VectorRecord[]) => {
      for (const r of items) sum.add(vectorHash(r));
      return sink.write(items);
    },
  });
  let committed: { records: number };
  try {
    await copyPages({ reader: coll, writer: counted, pageSize: 1000, mode: { first: 'error', rest: 'error' } });
    committed = await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  if (committed.records !== sum.count) throw new SwitchyardError('INTERNAL', `the backup file ${relative} holds ${committed.records} records but ${sum.count} were written to it`);
  return { step, kind: 'file', name: relative, rows: sum.count, checksum: sum.hex, createdAt: new Date().toISOString() };
}
