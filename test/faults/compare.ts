import { createReadStream } from 'node:fs';
import * as readline from 'node:readline';
import { canonical, hash64, rowHash, vectorHash } from '@switchyard/migration';
import { DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import type { VectorDb, VectorRecord } from '@switchyard/vector-db';
import type { EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * Every record of a dataset by id, with its 64-bit hash (the migration's own rowHash / vectorHash), read
 * by this process on its own connection: what "the target equals the source" is checked against.
 */
export interface Digest {
  name: string;
  hashes: Map<string, bigint>;
  /** Ids a full read returned more than once. */
  duplicates: string[];
  /** What the store says it holds (COUNT), to catch a read that stopped early. */
  storeCount: number;
}

const PAGE = 1000;

function add(d: Digest, id: string, h: bigint): void {
  if (d.hashes.has(id)) d.duplicates.push(id);
  d.hashes.set(id, h);
}

export async function tableDigest(db: RelationalDb, entity: EntityTarget<ObjectLiteral>): Promise<Digest> {
  const io = db.table(entity);
  const d: Digest = { name: db.datasetName(entity), hashes: new Map(), duplicates: [], storeCount: await db.repository(entity).count() };
  for await (const page of io.pages(PAGE)) for (const row of page) add(d, io.idOf(row), rowHash(io, row));
  return d;
}

export async function vectorDigest(db: VectorDb, name = `vectors ${db.collection}`): Promise<Digest> {
  const d: Digest = { name, hashes: new Map(), duplicates: [], storeCount: await db.count() };
  for await (const page of db.scan(PAGE)) for (const r of page) add(d, r.id, vectorHash(r));
  return d;
}

/** A table read as raw rows (`SELECT *`), e.g. a snapshot table a backup made; compared only with another raw read. */
export async function rawTableDigest(db: RelationalDb, table: string, name = table): Promise<Digest> {
  const rows = (await db.dataSource.query(`SELECT * FROM ${db.dataSource.driver.escape(table)}`)) as Record<string, unknown>[];
  const d: Digest = { name, hashes: new Map(), duplicates: [], storeCount: rows.length };
  for (const r of rows) add(d, String(r.id), hash64(JSON.stringify(canonical(r))));
  return d;
}

/** The vector records of a Switchyard NDJSON export (a backup file): header line first, then one record a line. */
export async function ndjsonVectorDigest(file: string, name = file): Promise<Digest> {
  const d: Digest = { name, hashes: new Map(), duplicates: [], storeCount: 0 };
  const lines = readline.createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let first = true;
  for await (const line of lines) {
    if (!line.trim()) continue;
    const v = JSON.parse(line) as Omit<VectorRecord, 'embedding'> & { embedding?: string; format?: string };
    if (first && v.format) {
      first = false;
      continue;
    }
    first = false;
    const b = Buffer.from(v.embedding ?? '', 'base64');
    const embedding = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    add(d, v.id, vectorHash({ id: v.id, userId: v.userId, documentId: v.documentId, chunkIndex: v.chunkIndex, content: v.content, metadata: v.metadata ?? {}, embedding }));
    d.storeCount++;
  }
  return d;
}

const sample = (ids: string[]) => `${ids.slice(0, 3).map((i) => JSON.stringify(i)).join(', ')}${ids.length > 3 ? ', ...' : ''}`;

/**
 * What is wrong with `actual` as a copy of `expected`: records lost, records that should not be there,
 * records whose content differs, duplicates, and a read that disagrees with the store's own count.
 * `what` names the comparison in messages ("target vs source").
 */
export function differences(expected: Digest, actual: Digest, what: string): string[] {
  const out: string[] = [];
  const lost: string[] = [];
  const changed: string[] = [];
  for (const [id, h] of expected.hashes) {
    const got = actual.hashes.get(id);
    if (got === undefined) lost.push(id);
    else if (got !== h) changed.push(id);
  }
  const extra = [...actual.hashes.keys()].filter((id) => !expected.hashes.has(id));
  const label = `${actual.name} (${what})`;
  if (lost.length) out.push(`${label}: ${lost.length} of ${expected.hashes.size} records lost (${sample(lost)})`);
  if (extra.length) out.push(`${label}: ${extra.length} records that should not be there (${sample(extra)})`);
  if (changed.length) out.push(`${label}: ${changed.length} records differ by checksum (${sample(changed)})`);
  for (const d of [expected, actual]) {
    if (d.duplicates.length) out.push(`${d.name}: a full read returned ${d.duplicates.length} ids twice (${sample(d.duplicates)})`);
    if (d.storeCount !== d.hashes.size + d.duplicates.length) out.push(`${d.name}: the store counts ${d.storeCount} records but a full read returned ${d.hashes.size + d.duplicates.length}`);
  }
  return out;
}

/** Documents whose user is not in the target, and (given vectors) vectors whose document is not in it. */
export async function orphans(db: RelationalDb, vectors?: VectorDb): Promise<string[]> {
  const out: string[] = [];
  const userIds = new Set<string>();
  for await (const page of db.pages(UserEntity, PAGE)) for (const u of page) userIds.add(u.id);
  const docKeys = new Set<string>();
  let orphanDocs = 0;
  let example = '';
  for await (const page of db.pages(DocumentEntity, PAGE)) {
    for (const doc of page) {
      docKeys.add(`${doc.userId}\0${doc.externalId}`);
      if (!userIds.has(doc.userId)) {
        orphanDocs++;
        example ||= `${doc.id} of user ${doc.userId}`;
      }
    }
  }
  if (orphanDocs) out.push(`${orphanDocs} documents name a user the target does not have (e.g. ${example})`);
  if (vectors) {
    let orphanVectors = 0;
    for await (const page of vectors.scan(PAGE)) {
      for (const r of page) {
        if (docKeys.has(`${r.userId}\0${r.documentId}`)) continue;
        orphanVectors++;
        example = `${r.id} of document ${r.userId}/${r.documentId}`;
      }
    }
    if (orphanVectors) out.push(`${orphanVectors} vectors name a document the target does not have (e.g. ${example})`);
  }
  return out;
}
