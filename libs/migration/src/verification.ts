import { SwitchyardError } from '@switchyard/core';
import type { VectorRecord } from '@switchyard/vector-db';
import type { JobContext, Step } from './job-context';
import type { ConflictPolicy, MigrationPlan, MigrationVerification, PlanStep, TableVerification } from './migration.types';
import { checksumOf, prefetch } from './pipeline';

const RECALL_SAMPLES = 20;
const MIN_RECALL = 0.9;
const MAX_EXAMPLES = 10;

/** Under FAIL, a non-empty target refuses the job before any write, naming each table and its count. */
export function conflictRefusal(ctx: JobContext, targetCounts: number[]): SwitchyardError | null {
  if ((ctx.job.onConflict as ConflictPolicy) !== 'FAIL') return null;
  const full = ctx.steps.map((s, i) => ({ s, n: targetCounts[i] })).filter((x) => x.n > 0 && !x.s.run);
  if (!full.length) return null;
  return new SwitchyardError(
    'CONFLICT',
    `The target is not empty: ${full.map((x) => `${x.s.target.label} already holds ${x.n} record${x.n === 1 ? '' : 's'}`).join('; ')}. ` +
      'Nothing was written (onConflict FAIL). Choose onConflict SKIP (keep what is there), OVERWRITE (replace records with the same id, after a backup) or TRUNCATE (empty it first, after a backup).',
    { tables: full.map((x) => ({ name: x.s.name, count: x.n })) },
  );
}

export function targetCounts(ctx: JobContext): Promise<number[]> {
  return Promise.all(ctx.steps.map((s) => (s.run ? 0 : s.target.count())));
}

/**
 * What a run would do, writing nothing: counts on both sides, conflicts, and (`full`) every source
 * record checked against the target (ids present, records it cannot hold) plus an estimate from the
 * timed first page.
 */
export async function planOf(ctx: JobContext, full: boolean, pageSize: number, check: () => void = () => undefined): Promise<MigrationPlan> {
  const steps: PlanStep[] = [];
  const counts: number[] = [];
  let estimate = 0;
  let sample: MigrationPlan['sample'] = null;
  for (const s of ctx.steps) {
    const [sourceCount, targetCount] = await Promise.all([s.source.count(), s.run ? 0 : s.target.count()]);
    counts.push(targetCount);
    const ps: PlanStep = { name: s.name, kind: s.kind, sourceCount, targetCount, conflictingIds: null, invalid: null, invalidExamples: [] };
    steps.push(ps);
    if (!full || s.run) continue;
    Object.assign(ps, { conflictingIds: 0, invalid: 0 });
    let items = 0;
    let perItem = 0;
    let first = true;
    const t0 = Date.now();
    for await (const page of prefetch(s.scan.pages(pageSize))) {
      check();
      if (first) {
        // The first page, timed: reading it, and writing as much again; plus embedding for a re-index.
        first = false;
        const ms = Date.now() - t0;
        sample ??= { items: page.items.length, ms };
        perItem = (await ctx.sampleCost?.(page)) ?? 0;
        estimate += (2 * ms * sourceCount) / Math.max(1, page.units);
      }
      items += page.items.length;
      if (s.kind !== 'documents') tallyInvalid(s, page.items, ps);
      if (targetCount > 0) ps.conflictingIds = (ps.conflictingIds ?? 0) + (await s.target.existing(page.items));
    }
    estimate += perItem * items;
    if (s.kind === 'documents') ps.chunks = items;
  }
  const refusal = ctx.refusal ?? conflictRefusal(ctx, counts);
  const warnings = [...ctx.warnings];
  const policy = ctx.job.onConflict as ConflictPolicy;
  for (const ps of steps) {
    if (ps.invalid) warnings.push(`${ps.invalid} record(s) of ${ps.name} cannot be moved as they are and would be rejected (see invalidExamples).`);
    if (ps.targetCount > 0 && policy === 'TRUNCATE') warnings.push(`TRUNCATE empties ${ps.name} in the target (${ps.targetCount} records) after a backup.`);
  }
  return {
    source: ctx.source,
    target: ctx.target,
    steps,
    refusal: refusal ? { code: refusal.code, message: refusal.message } : null,
    warnings,
    estimatedSeconds: full ? Math.round(estimate / 100) / 10 : null,
    sample,
  };
}

function tallyInvalid(s: Step, items: unknown[], ps: PlanStep): void {
  for (const item of items) {
    const why = s.target.validate(item);
    if (!why) continue;
    ps.invalid = (ps.invalid ?? 0) + 1;
    if (ps.invalidExamples.length < MAX_EXAMPLES) ps.invalidExamples.push({ id: s.scan.idOf(item), reason: why });
  }
}

/**
 * Compares both sides of every step: exact counts and order-independent checksums of every record,
 * plus, for vectors, a sampled nearest-neighbour check.
 */
export async function verifyOf(ctx: JobContext, pageSize: number): Promise<MigrationVerification> {
  const tables: TableVerification[] = [];
  const notes: string[] = [];
  const samples: VectorRecord[] = [];
  for (const s of ctx.steps) {
    const check = s.check;
    if (!check) {
      notes.push(`${s.name}: restored from a snapshot in place; not compared.`);
      continue;
    }
    const sampled = ctx.recall?.side === 'source' ? s.scan : ctx.recall?.side === 'target' ? check.target : null;
    const stride = sampled ? Math.max(1, Math.floor((await sampled.count()) / RECALL_SAMPLES)) : 0;
    const visit = (item: unknown, i: number) => {
      if (i % stride === 0 && samples.length < RECALL_SAMPLES) samples.push(item as VectorRecord);
    };
    const [src, tgt] = await Promise.all([
      checksumOf(s.scan, check.hash, pageSize, sampled === s.scan ? visit : undefined),
      checksumOf(check.target, check.hash, pageSize, sampled === check.target ? visit : undefined),
    ]);
    tables.push({
      name: s.name,
      sourceCount: src.count,
      targetCount: tgt.count,
      sourceChecksum: src.hex,
      targetChecksum: tgt.hex,
      checksumMatch: src.count === tgt.count && src.hex === tgt.hex,
    });
  }
  let recallAt10: number | null = null;
  if (ctx.recall && samples.length) {
    try {
      recallAt10 = await ctx.recall.measure(samples);
    } catch (e) {
      notes.push(`recall@10 could not be measured: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const countsOk = tables.every((t) => t.sourceCount === t.targetCount && t.checksumMatch !== false);
  if (recallAt10 !== null && recallAt10 < MIN_RECALL) notes.push(`recall@10 ${recallAt10.toFixed(3)} is below ${MIN_RECALL}.`);
  for (const t of tables) if (t.sourceCount !== t.targetCount) notes.push(`${t.name}: ${t.sourceCount} in the source, ${t.targetCount} in the target.`);
  return { ok: countsOk && (recallAt10 === null || recallAt10 >= MIN_RECALL), tables, recallAt10, notes, checkedAt: new Date().toISOString() };
}
