import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createRelationalDb, DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { relationalDigest } from './testing/corpus';
import { startWriter } from './testing/writer-process';
import { openRelational, openVector, profile, seedRelational, service } from './testing/fixtures';

const USERS = 300;
const DOCS = 6000;
const WRITER = path.join(__dirname, 'testing', 'source-writer.ts');

const digest = relationalDigest;

/**
 * A live RELATIONAL migration: an app instance in another process keeps inserting, updating and deleting
 * users and documents in the SQLite source while the job copies it into PostgreSQL. The job captures those
 * writes, catches up, freezes the source (the writer's writes are then refused with MAINTENANCE), copies
 * the last delta and verifies: CUT_OVER, and the target equals the frozen source by checksum, no orphans.
 */
describe.each<'sqlite' | 'postgres'>(['sqlite', 'postgres'])('live migration from %s: writes during the copy are caught up, then a short freeze (real processes, real servers)', (engine) => {
  const dir = freshDir('sy-live-');
  const unusedVectors: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('unused-vectors.sqlite'), dimensions: 4, collection: 'unused' };
  let sourceConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('live-source.sqlite'), logging: false };
  let drop: () => Promise<void>;
  let dropSource: () => Promise<void> = async () => undefined;
  let target: RelationalDb;
  let vec: VectorDb;

  beforeAll(async () => {
    const pg = await freshPostgres('live');
    drop = pg.drop;
    if (engine === 'postgres') {
      const src = await freshPostgres('livesrc');
      dropSource = src.drop;
      sourceConfig = { provider: 'postgres', logging: false, ...src.connection };
    }
    const src = await openRelational(sourceConfig);
    await seedRelational(src, USERS, DOCS);
    await src.close();
    target = await openRelational({ provider: 'postgres', logging: false, ...pg.connection });
    vec = await openVector({ provider: 'sqlite-vec', path: dir.file('t-vectors.sqlite'), dimensions: 4, collection: 'v' }, 'm');
  });

  afterAll(async () => {
    await vec?.close();
    await target?.close();
    await drop?.();
    await dropSource();
    dir.remove();
  });

  it('ends CUT_OVER with the target equal to the frozen source; the writer is refused only once frozen; unfreeze lets it write again', async () => {
    const writer = startWriter(WRITER, [JSON.stringify(sourceConfig), '7']);
    await writer.started(20, 20_000);
    const svc = service({ target: { relational: target, vector: vec }, profiles: { source: profile('source', sourceConfig, unusedVectors) }, dataDir: path.join(dir.dir, 'data'), defaultBatchSize: 250 });
    const started = await svc.start({ kind: 'RELATIONAL', live: true, throttleMs: 10 });
    const job = await svc.waitFor(started.id);
    const refusedAt = writer.output().length;
    await new Promise((r) => setTimeout(r, 300)); // the writer keeps trying against the frozen source
    await writer.stop();
    await svc.close();
    const out = writer.output();
    expect([job.errorCode ?? null, job.error, JSON.stringify(job.verification)]).toEqual([null, null, expect.any(String)]);
    expect(job.status).toBe('CUT_OVER');
    expect(job.verification?.ok).toBe(true);
    const live = job.progress!.live!;
    expect(live.applied).toBeGreaterThan(0);
    expect(live.frozen).toBe(true);
    expect(live.freezeMs).toEqual(expect.any(Number));
    console.log(`live migration: ${writer.oks()} writes accepted in all, ${live.rounds} catch-up round(s), ${live.applied} change(s) applied, freeze ${live.freezeMs} ms`);
    // Written during the copy, refused once frozen, with the freeze's own message.
    expect((out.match(/^ok (insert|update|delete)/gm) ?? []).length).toBeGreaterThan(40);
    expect(out.slice(refusedAt)).toMatch(/^refused \S+ .*MAINTENANCE: this database is frozen/m);
    expect(writer.otherRefusals()).toEqual([]);

    const source = createRelationalDb(sourceConfig, { readOnly: true });
    await source.init();
    try {
      expect(await digest(target)).toEqual(await digest(source));
      const orphans = await target.dataSource.query(
        `SELECT COUNT(*)::int AS n FROM ${target.metadata(DocumentEntity).tableName} d WHERE NOT EXISTS (SELECT 1 FROM ${target.metadata(UserEntity).tableName} u WHERE u.id = d.user_id)`,
      );
      expect(orphans[0].n).toBe(0);
      // Nothing of the capture is left on the source but the freeze.
      const sql =
        engine === 'sqlite'
          ? "SELECT name FROM sqlite_master WHERE name LIKE 'switchyard_change_log%' OR (type = 'trigger' AND name LIKE 'sy_cc_%' AND name NOT LIKE 'sy_cc_frz%')"
          : "SELECT tgname AS name FROM pg_trigger WHERE tgname LIKE 'sy_cc_%' AND tgname NOT LIKE 'sy_cc_frz%' UNION ALL SELECT tablename FROM pg_tables WHERE tablename LIKE 'switchyard_change_log%'";
      const leftovers = ((await source.dataSource.query(sql)) as { name: string }[]).map((r) => r.name);
      expect(leftovers).toEqual([]);
    } finally {
      await source.close();
    }

    // Rolling back to the source: unfreeze, and it takes writes again.
    const svc2 = service({ target: { relational: target, vector: vec }, profiles: { source: profile('source', sourceConfig, unusedVectors) }, dataDir: path.join(dir.dir, 'data') });
    expect(await svc2.unfreeze('source')).toBe(true);
    await svc2.close();
    const app = await openRelational(sourceConfig);
    try {
      await expect(app.repository(UserEntity).insert({ id: 'after-rollback', roles: null, active: true })).resolves.toBeDefined();
    } finally {
      await app.close();
    }
  });
});
