import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { PostgresConnection, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { makeRecords } from '../../vector-db/src/testing/records';
import { freshDir, freshPostgres, repoRoot } from '../../../test/support/services';
import { MigrationService } from './migration.service';
import { openRelational, openVector, profile, service, succeeded } from './testing/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startChroma } = require(path.join(repoRoot(), 'scripts/services/chroma.js')) as {
  startChroma(o: { log(m: string): void }): Promise<{ url: string; dataDir: string; stop(o?: { keepData?: boolean }): Promise<void> }>;
};

const DIMS = 32;
const N = 2500;

/**
 * A VECTORS job whose source is a Chroma persist directory (MIGRATION_<NAME>_VECTOR_DB_CHROMA_PERSIST_DIR):
 * the same records, verified the same way and with the same checksum as the job that reads the server,
 * also once the server is stopped; and the same collection as the target is SAME_STORE, as through the API.
 */
describe('VECTORS from a Chroma persist directory into pgvector (real Chroma server, real PostgreSQL)', () => {
  const dir = freshDir('sy-mig-persist-');
  const unused: RelationalDbConfig = { provider: 'sqlite', database: dir.file('unused.sqlite'), logging: false };
  let chroma: Awaited<ReturnType<typeof startChroma>>;
  let pg: Awaited<ReturnType<typeof freshPostgres>>;
  let conn: PostgresConnection;
  let rel: RelationalDb;
  const closers: (() => Promise<unknown>)[] = [];
  const api = (): VectorDbConfig => ({ provider: 'chromadb', url: chroma.url, dimensions: DIMS, collection: 'persisted' });
  const disk = (): VectorDbConfig => ({ provider: 'chromadb', url: 'http://127.0.0.1:1', dimensions: DIMS, collection: 'persisted', persistDir: chroma.dataDir });

  async function copyInto(collection: string, source: VectorDbConfig): Promise<{ svc: MigrationService; target: VectorDb }> {
    const target = await openVector({ provider: 'pgvector', connection: conn, dimensions: DIMS, collection }, 'model-a');
    const svc = service({ target: { relational: rel, vector: target }, profiles: { src: profile('src', unused, source) }, dataDir: path.join(dir.dir, collection) });
    closers.push(() => svc.close(), () => target.close());
    return { svc, target };
  }

  beforeAll(async () => {
    chroma = await startChroma({ log: () => undefined });
    pg = await freshPostgres('migpersist');
    conn = pg.connection;
    rel = await openRelational({ provider: 'postgres', logging: false, ...conn });
    const src = await openVector(api(), 'model-a');
    const recs = makeRecords(N, DIMS, { seed: 5, users: 4, prefix: 'v' });
    for (let i = 0; i < N; i += 500) await src.upsert(recs.slice(i, i + 500));
    await src.deleteIds([recs[7].id]);
    await src.close();
  }, 120_000);

  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await rel?.close();
    await pg?.drop();
    await chroma?.stop();
    if (chroma) rmSync(path.dirname(chroma.dataDir), { recursive: true, force: true });
    dir.remove();
  });

  it('copies, verifies and checksums exactly as the job that reads the server; then again with the server stopped', async () => {
    const viaApi = await copyInto('from_api', api());
    const a = await succeeded(viaApi.svc, viaApi.svc.start({ kind: 'VECTORS', source: 'src', batchSize: 400 }));
    const viaDisk = await copyInto('from_disk', disk());
    const plan = (await succeeded(viaDisk.svc, viaDisk.svc.start({ kind: 'VECTORS', source: 'src', dryRun: true }))).plan!;
    expect(plan.source.vector).toMatchObject({ provider: 'chromadb', location: `chroma persist directory ${chroma.dataDir}`, model: 'model-a', dimensions: DIMS });
    // A live migration follows writes on its source: not possible on a directory read without its server.
    await expect(viaDisk.svc.start({ kind: 'VECTORS', source: 'src', live: true })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('cannot follow writes') });
    const b = await succeeded(viaDisk.svc, viaDisk.svc.start({ kind: 'VECTORS', source: 'src', batchSize: 400 }));
    for (const job of [a, b]) expect(job.verification).toMatchObject({ ok: true, tables: [{ sourceCount: N - 1, targetCount: N - 1, checksumMatch: true }] });
    expect(b.verification!.tables[0].sourceChecksum).toBe(a.verification!.tables[0].sourceChecksum);
    expect(b.verification!.tables[0].targetChecksum).toBe(a.verification!.tables[0].targetChecksum);

    // The directory of the very collection the app writes: the same store, refused before any write.
    const self = await openVector(api(), 'model-a');
    const onto = service({ target: { relational: rel, vector: self }, profiles: { src: profile('src', unused, disk()) }, dataDir: path.join(dir.dir, 'self') });
    closers.push(() => onto.close(), () => self.close());
    await expect(onto.start({ kind: 'VECTORS', source: 'src', onConflict: 'TRUNCATE' })).rejects.toMatchObject({ code: 'SAME_STORE' });
    expect(await self.count()).toBe(N - 1);

    await chroma.stop({ keepData: true });
    const stopped = await copyInto('from_stopped', disk());
    const c = await succeeded(stopped.svc, stopped.svc.start({ kind: 'VECTORS', source: 'src', batchSize: 1000 }));
    expect(c.verification).toMatchObject({ ok: true, tables: [{ sourceCount: N - 1, checksumMatch: true, sourceChecksum: a.verification!.tables[0].sourceChecksum }] });
    expect(await stopped.target.count()).toBe(N - 1);
  });
});
