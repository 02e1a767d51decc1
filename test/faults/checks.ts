import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { Digest, differences, ndjsonVectorDigest, orphans, rawTableDigest, tableDigest, vectorDigest } from './compare';
import type { ScenarioContext } from './harness';
import type { JobSummary } from './protocol';

const SUCCESS = new Set(['SUCCEEDED', 'SUCCEEDED_WITH_REJECTS']);

/** Runs a check; a store that cannot be read is itself a problem (reported, not thrown). */
export async function readable(what: string, fn: () => Promise<string[]>): Promise<string[]> {
  try {
    return await fn();
  } catch (e) {
    return [`${what}: could not be read: ${e instanceof Error ? e.message : String(e)}`];
  }
}

/** Users and documents of the target against the source, by checksum; documents without their user. */
export function relationalProblems(ctx: ScenarioContext, source: RelationalDbConfig, target: RelationalDbConfig): Promise<string[]> {
  return readable('the relational source or target', () =>
    ctx.withStores(source, null, (src) =>
      ctx.withStores(target, null, async (tgt) => {
        const out: string[] = [];
        for (const e of [UserEntity, DocumentEntity]) out.push(...differences(await tableDigest(src, e), await tableDigest(tgt, e), 'target vs source'));
        out.push(...(await orphans(tgt)));
        return out;
      }),
    ),
  );
}

/** Vectors of the target against the source, by checksum; vectors whose document the target's relational DB lacks. */
export function vectorProblems(ctx: ScenarioContext, source: VectorDbConfig, target: { relational: RelationalDbConfig; vector: VectorDbConfig }): Promise<string[]> {
  return readable('the vector source or target', () =>
    ctx.withStores(null, source, async (_, src) =>
      ctx.withStores(target.relational, target.vector, async (rel, tgt) => [...differences(await vectorDigest(src), await vectorDigest(tgt), 'target vs source'), ...(await orphans(rel, tgt))]),
    ),
  );
}

/** The target's data as it is now, to compare after a job that must not have written. */
export async function snapshot(ctx: ScenarioContext, target: { relational: RelationalDbConfig; vector: VectorDbConfig }): Promise<Digest[]> {
  return ctx.withStores(target.relational, target.vector, async (rel, vec) => [await tableDigest(rel, UserEntity), await tableDigest(rel, DocumentEntity), await vectorDigest(vec)]);
}

/**
 * The job's end tells the truth: a job that ended SUCCEEDED (or with rejects) has verification ok and a
 * target without problems; `expectSuccess` (kill-and-resume) also requires it to have succeeded.
 */
export function judge(ctx: ScenarioContext, what: string, job: JobSummary | null, dataProblems: string[], expectSuccess: boolean): void {
  for (const p of dataProblems) ctx.problem(p);
  if (!job) return;
  const end = `${what}: job ${job.id} ended ${job.status}${job.errorCode ? ` (${job.errorCode}: ${job.error})` : ''}, verification ok=${job.verificationOk}`;
  if (SUCCESS.has(job.status)) {
    if (dataProblems.length) ctx.problem(`${end} — the status lies: the target does not equal the source (above)`);
    else if (job.verificationOk !== true) ctx.problem(`${end} — a job whose verification did not pass must not succeed`);
    else ctx.note(end);
  } else if (expectSuccess) {
    ctx.problem(`${end} — it should have finished`);
  } else {
    ctx.note(end);
  }
}

/**
 * TRUNCATE replaced what the target held: each non-empty table / collection must have a backup that
 * equals, by checksum, what was there before (`before`: raw table digests / vector digest by step name).
 */
export async function backupProblems(db: RelationalDb, dataDir: string, job: JobSummary, before: Map<string, Digest>): Promise<string[]> {
  const out: string[] = [];
  for (const [step, was] of before) {
    if (!was.hashes.size) continue;
    const b = job.backups.find((x) => x.step === step);
    if (!b) {
      out.push(`${step}: no backup recorded on the job, but the target held ${was.hashes.size} records that were replaced`);
      continue;
    }
    let got: Digest;
    if (b.kind === 'table') {
      got = await rawTableDigest(db, b.name, `backup table ${b.name}`);
    } else {
      const file = path.join(dataDir, b.name);
      if (!existsSync(file)) {
        out.push(`${step}: the backup file ${b.name} named by the job does not exist`);
        continue;
      }
      got = await ndjsonVectorDigest(file, `backup file ${b.name}`);
    }
    out.push(...differences(was, got, 'backup vs the target before the job'));
    if (b.rows !== was.hashes.size) out.push(`${step}: the job records ${b.rows} rows in its backup; the target held ${was.hashes.size}`);
  }
  return out;
}
