import { lookup } from 'node:dns/promises';
import { symlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ProviderProfile, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import type { MigrationKind } from '@switchyard/migration';
import { snapshot } from './checks';
import { differences } from './compare';
import { deployment, DIMS, MODEL, seedRelational, seedVectors } from './data';
import { Scenario, ScenarioContext } from './harness';
import type { RunnerConfig } from './protocol';
import { RunnerProcess } from './runner';

type Target = { relational: RelationalDbConfig; vector: VectorDbConfig };
const KINDS: MigrationKind[] = ['RELATIONAL', 'VECTORS'];

/**
 * The source profile `alias` names the target itself. Each kind of migration, with onConflict TRUNCATE,
 * must be refused before any write (any refusal code), and the target must be unchanged by checksum.
 */
async function refusesAlias(ctx: ScenarioContext, target: Target, alias: ProviderProfile, dataDir: string): Promise<void> {
  const n = Math.min(ctx.opts.records, 2000);
  const dep = deployment(ctx.rng, { docs: n, users: Math.max(5, Math.round(n / 50)), vectors: n });
  await ctx.withStores(target.relational, target.vector, async (rel, vec) => {
    await seedRelational(rel, dep);
    await vec.recordModel(MODEL);
    await seedVectors(vec, dep);
  });
  const config: RunnerConfig = ctx.runnerConfig({ ...target, model: MODEL }, { alias }, dataDir);
  const runner = new RunnerProcess(`${ctx.name}-runner`);
  ctx.defer(() => runner.kill());
  await runner.open(config);
  for (const kind of KINDS) {
    const before = await snapshot(ctx, target);
    const r = await runner.start({ kind, source: 'alias', onConflict: 'TRUNCATE', batchSize: ctx.opts.batchSize });
    let job = null;
    if (r.accepted) {
      job = await runner.finished();
      ctx.problem(`${kind}: a job from "alias" (${describe(alias, kind)}) into the same store was accepted; it must be refused before any write. It ended ${job?.status ?? 'without a status'}${job?.errorCode ? ` (${job.errorCode}: ${job.error})` : ''}`);
    } else {
      ctx.note(`${kind}: refused with ${r.code}: ${r.message}`);
    }
    const after = await snapshot(ctx, target);
    const changed = before.flatMap((b, i) => differences(b, after[i], 'target after the job vs before'));
    for (const p of changed) ctx.problem(`${kind}: ${p}`);
    if (job && (job.status === 'SUCCEEDED' || job.status === 'SUCCEEDED_WITH_REJECTS') && changed.length) ctx.problem(`${kind}: job ${job.id} reports ${job.status} (verification ok=${job.verificationOk}) although the target lost data — the status lies`);
  }
}

function describe(p: ProviderProfile, kind: MigrationKind): string {
  if (kind === 'RELATIONAL') return p.relational.provider === 'sqlite' ? `sqlite ${p.relational.database}` : `postgres host ${p.relational.host}`;
  return p.vector.provider === 'sqlite-vec' ? `sqlite-vec ${p.vector.path}` : p.vector.provider === 'pgvector' ? `pgvector host ${p.vector.connection.host}` : p.vector.provider;
}

export const aliasSqlite: Scenario = {
  name: 'alias-sqlite',
  about: 'a source profile reaches the target SQLite file (relational + sqlite-vec) through a symlink: refused before any write, target unchanged',
  async run(ctx: ScenarioContext) {
    const dir = ctx.dir();
    const live = dir.file('live.sqlite');
    const link = dir.file('alias.sqlite');
    symlinkSync(live, link);
    const target: Target = { relational: { provider: 'sqlite', database: live, logging: false }, vector: { provider: 'sqlite-vec', path: live, dimensions: DIMS, collection: 'vector_embeddings' } };
    const alias: ProviderProfile = { name: 'alias', relational: { provider: 'sqlite', database: link, logging: false }, vector: { provider: 'sqlite-vec', path: link, dimensions: DIMS, collection: 'vector_embeddings' } };
    await refusesAlias(ctx, target, alias, dir.dataDir);
  },
};

/** Another spelling of the same PostgreSQL host: 'localhost' for its loopback address, the address for a name. */
async function otherSpelling(host: string): Promise<string | null> {
  if (!isIP(host)) return (await lookup(host)).address;
  const local = await lookup('localhost', { family: isIP(host) }).catch(() => null);
  return local?.address === host ? 'localhost' : null;
}

export const aliasPostgres: Scenario = {
  name: 'alias-postgres',
  about: "a source profile names the target PostgreSQL database (relational + pgvector) by another host spelling ('localhost' vs '127.0.0.1'): refused before any write, target unchanged",
  async run(ctx: ScenarioContext) {
    const dir = ctx.dir();
    const pg = await ctx.postgres('faultalias');
    const host = await otherSpelling(pg.connection.host);
    if (!host) {
      ctx.problem(`no other spelling of the PostgreSQL host ${pg.connection.host} is known (it is neither 'localhost' nor its address); run against a local server`);
      return;
    }
    const target: Target = { relational: pg.relational, vector: pg.vector() };
    const connection = { ...pg.connection, host };
    const alias: ProviderProfile = { name: 'alias', relational: { ...pg.relational, host }, vector: { provider: 'pgvector', connection, dimensions: DIMS, collection: 'vector_embeddings' } };
    ctx.note(`target host ${pg.connection.host}, alias host ${host}`);
    await refusesAlias(ctx, target, alias, dir.dataDir);
  },
};
