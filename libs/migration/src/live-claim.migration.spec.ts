import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { ChangeCapture, RelationalDb } from '@switchyard/relational-db';
import { spawnTs } from '../../../test/support/child';
import { freshDir, freshPostgres } from '../../../test/support/services';
import type { ChildConfig } from './testing/migrate-child';
import { openRelational, openVector, profile } from './testing/fixtures';
import { relationalDigest, seedCorpus } from './testing/corpus';

const CHILD = path.join(__dirname, 'testing', 'migrate-child.ts');

interface Outcome {
  jobId?: string;
  refused?: string | null;
  status?: string;
  errorCode?: string | null;
  error?: string | null;
}

/**
 * Two processes start a live RELATIONAL job from the same PostgreSQL source, each into its own target,
 * at the same instant (the race the one-job-per-source claim must decide): exactly one of them runs and
 * cuts over with its target equal to the source; the other is refused or fails with MIGRATION_LOCKED,
 * never SUCCEEDED, and its cleanup leaves the winner's capture alone.
 */
describe('two processes start a live job on one source at the same instant (real processes, real PostgreSQL)', () => {
  const dir = freshDir('sy-live-claim-');
  const drops: (() => Promise<void>)[] = [];
  let source: RelationalDb;
  let sourceConfig: RelationalDbConfig;
  let sourceVector: VectorDbConfig;
  const targets: { relational: RelationalDbConfig; vector: VectorDbConfig }[] = [];

  beforeAll(async () => {
    const src = await freshPostgres('claimsrc');
    drops.push(src.drop);
    sourceConfig = { provider: 'postgres', logging: false, ...src.connection };
    sourceVector = { provider: 'pgvector', connection: src.connection, dimensions: 32, collection: 'chunks' };
    source = await openRelational(sourceConfig);
    const vec = await openVector(sourceVector, 'test-hash');
    await seedCorpus(source, vec, 300);
    await vec.close();
    for (const name of ['claima', 'claimb']) {
      const t = await freshPostgres(name);
      drops.push(t.drop);
      targets.push({ relational: { provider: 'postgres', logging: false, ...t.connection }, vector: { provider: 'pgvector', connection: t.connection, dimensions: 32, collection: 'chunks' } });
    }
  });

  afterAll(async () => {
    await source?.close();
    for (const d of drops) await d();
    dir.remove();
  });

  function run(i: number, startAt: number): Promise<{ outcome: Outcome; output: string }> {
    const cfg: ChildConfig = {
      target: { ...targets[i], model: 'test-hash' },
      profiles: { source: profile('source', sourceConfig, sourceVector) },
      dataDir: path.join(dir.dir, `data-${i}`),
      staleAfterMs: 60_000,
      start: { kind: 'RELATIONAL', source: 'source', live: true, onConflict: 'FAIL' },
      startAt,
    };
    const { child, output } = spawnTs(CHILD, [JSON.stringify(cfg)]);
    return new Promise((resolve) => {
      child.on('exit', () => {
        const outcome: Outcome = {};
        for (const line of output().split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            Object.assign(outcome, JSON.parse(line));
          } catch {
            // not one of the child's lines
          }
        }
        resolve({ outcome, output: output() });
      });
    });
  }

  it('exactly one job runs and cuts over with its target equal to the source; the other is MIGRATION_LOCKED; nothing of the winner is removed', async () => {
    // both children open their handles first (a few seconds of ts-node), then start at the same instant
    const startAt = Date.now() + 12_000;
    const results = await Promise.all([run(0, startAt), run(1, startAt)]);
    if (process.env.SY_TEST_VERBOSE) console.log(JSON.stringify(results.map((r) => r.outcome)));
    const winners = results.filter((r) => r.outcome.status === 'CUT_OVER');
    const losers = results.filter((r) => r.outcome.status !== 'CUT_OVER');
    expect([winners.length, losers.length]).toEqual([1, 1]);
    const loser = losers[0].outcome;
    // refused when built (the claim was already taken) or failed when its capture was installed, never a success
    expect([loser.refused !== undefined ? 'refused' : loser.status, loser.refused ?? loser.errorCode]).toEqual([expect.stringMatching(/^(refused|FAILED)$/), 'MIGRATION_LOCKED']);
    expect(loser.error).toMatch(/migration job|capture/i);

    const winner = results.indexOf(winners[0]);
    const target = await openRelational(targets[winner].relational);
    try {
      expect(await relationalDigest(target)).toEqual(await relationalDigest(source));
    } finally {
      await target.close();
    }
    // The winner's cutover left the source frozen under its own name; the loser removed nothing of it.
    const capture = new ChangeCapture(source, [], null);
    expect(await capture.frozenBy()).toBe(winners[0].outcome.jobId);
  }, 180_000);
});
