import { SwitchyardError } from '@switchyard/core';
import type { VectorRecord } from '@switchyard/vector-db';
import type { JobContext, Step } from './job-context';
import { Checksum, hash64 } from './checksum';
import type { ConflictPolicy, MigrationPlan, MigrationProgress, MigrationVerification, PlanStep, TableVerification } from './migration.types';
import { checksumOf, prefetch, screen } from './pipeline';
import { MIN_INDEX_RECALL, OrphanTally } from './vector-checks';
import { BucketSums, describeDiff, KeyDiff, keyDiff } from './key-diff';

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
  // Ids each step would write: a later step's parent checks count them as present (a dry run copies nothing).
  const planned = new Map<string, Set<string>>();
  for (const s of ctx.steps) {
    if (full) s.target.assumeWritten?.(planned);
    const [sourceCount, targetCount] = await Promise.all([s.source.count(), s.run ? 0 : s.target.count()]);
    counts.push(targetCount);
    const ps: PlanStep = { name: s.name, kind: s.kind, sourceCount, targetCount, conflictingIds: null, invalid: null, invalidExamples: [] };
    steps.push(ps);
    if (!full || s.run) continue;
    Object.assign(ps, { conflictingIds: 0, invalid: 0, uniqueConflicts: 0 });
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
      if (s.kind === 'table') {
        if (!planned.has(s.name)) planned.set(s.name, new Set());
        await tallyInvalid(s, page.items, ps, planned.get(s.name)!);
      } else if (s.kind !== 'documents') await tallyInvalid(s, page.items, ps);
      if (targetCount > 0) ps.conflictingIds = (ps.conflictingIds ?? 0) + (await s.target.existing(page.items));
    }
    estimate += perItem * items;
    if (s.kind === 'documents') ps.chunks = items;
  }
  const refusal = ctx.refusal ?? conflictRefusal(ctx, counts);
  const warnings = [...ctx.warnings];
  const policy = ctx.job.onConflict as ConflictPolicy;
  for (const ps of steps) {
    if (ps.invalid) warnings.push(`${ps.invalid} record(s) of ${ps.name} cannot be moved as they are and would be rejected into the job's reject file (see invalidExamples)${ps.uniqueConflicts ? `, ${ps.uniqueConflicts} of them for a unique key already used` : ''}.`);
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

/** What a run would reject of these records: per record, and per batch (unique keys, missing parents). */
async function tallyInvalid(s: Step, items: unknown[], ps: PlanStep, written?: Set<string>): Promise<void> {
  const { valid, rejected } = await screen(s.scan, s.target, items);
  for (const v of valid) written?.add(s.scan.idOf(v));
  for (const r of rejected) {
    ps.invalid = (ps.invalid ?? 0) + 1;
    if (/unique key/.test(r.reason)) ps.uniqueConflicts = (ps.uniqueConflicts ?? 0) + 1;
    if (ps.invalidExamples.length < MAX_EXAMPLES) ps.invalidExamples.push({ id: r.id, reason: r.reason });
  }
}

export interface VerifyOptions {
  /** Ids set aside per step (the reject file): left out of the source side. */
  rejected?: Map<string, Set<string>>;
  /** Seeds the sample (the job id): the same job samples the same records, spread over the whole range. */
  seed?: string;
  /** The job's progress: steps whose target was not empty when they began are compared by key, not by checksum. */
  progress?: MigrationProgress | null;
  /**
   * Leaves the target's recall against an exact scan (a pass over the whole target that gates nothing) for
   * later: verifyOf sets `measureLater`, which adds it to the verification (a live job: after the cutover,
   * so the source is not frozen for it).
   */
  deferIndexRecall?: boolean;
  measureLater?: () => Promise<void>;
}

/** `k` distinct indices from [0, n), drawn with a PRNG seeded by `seed` (sorted). */
export function sampleIndices(n: number, k: number, seed: string): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  let x = Number(hash64(seed) & 0xffffffffn) || 1;
  const next = () => {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const out = new Set<number>();
  while (out.size < k) out.add(Math.floor(next() * n));
  return [...out].sort((a, b) => a - b);
}

/**
 * Compares both sides of every step: exact counts and order-independent checksums of every record (the
 * source without its rejected records), plus, for vectors, a seeded sample across the whole range for a
 * nearest-neighbour check. A step whose target already held records when it began (SKIP / OVERWRITE into
 * a non-empty target) is compared by key: every moved source id must be in the target.
 */
export async function verifyOf(ctx: JobContext, pageSize: number, o: VerifyOptions = {}): Promise<MigrationVerification> {
  const tables: TableVerification[] = [];
  const notes: string[] = [];
  const samples: VectorRecord[] = [];
  let ok = true;
  let orphans: number | null = null;
  for (const s of ctx.steps) {
    const check = s.check;
    const tally = ctx.orphans && s.kind === 'collection' ? new OrphanTally() : null;
    if (!check) {
      notes.push(`${s.name}: not compared.`);
      continue;
    }
    const rejected = o.rejected?.get(s.name) ?? new Set<string>();
    const keep = (item: unknown) => !rejected.has(s.scan.idOf(item));
    const before = o.progress?.steps.find((p) => p.name === s.name)?.targetBefore ?? 0;
    // The recall sample is of vectors (a whole-stack job's tables are compared by checksum only).
    const recall = s.kind === 'table' ? undefined : ctx.recall;
    const sampled = recall?.side === 'source' ? s.scan : recall?.side === 'target' ? check.target : null;
    const picks = new Set(sampled ? sampleIndices(await sampled.count(), RECALL_SAMPLES, `${o.seed ?? ''}:${s.name}`) : []);
    const visit = (item: unknown, i: number) => {
      if (picks.has(i)) samples.push(item as VectorRecord);
    };
    const visitTarget = (item: unknown, i: number) => {
      if (sampled === check.target) visit(item, i);
      tally?.visit(item as VectorRecord);
    };
    const orphanCheck = async () => {
      if (!tally || !ctx.orphans) return;
      const r = await tally.result(ctx.orphans);
      orphans = r.orphans === null ? orphans : (orphans ?? 0) + r.orphans;
      if (r.orphans) ok = false;
      if (r.note) notes.push(`${s.name}: ${r.note}`);
    };
    if (before > 0 && !s.expected && !s.wholeTarget) {
      const byContent = (ctx.job.onConflict as ConflictPolicy) === 'OVERWRITE';
      const { differing, ...t } = await keyedCompare(s, pageSize, keep, byContent, sampled === s.scan ? visit : undefined);
      if (sampled === check.target || tally) await checksumOf(check.target, check.hash, pageSize, visitTarget); // the sample is of the target side
      await orphanCheck();
      tables.push(t);
      if (t.sourceCount !== t.targetCount) {
        ok = false;
        notes.push(`${s.name}: ${t.sourceCount - t.targetCount} of ${t.sourceCount} source records are missing in the target.`);
      } else if (t.checksumMatch === false) {
        ok = false;
        notes.push(`${s.name}: records differ between source and target (e.g. ${differing.map((d) => JSON.stringify(d)).join(', ')}).`);
      } else {
        const how = t.checksumMatch ? 'every moved source record is in it with the same content' : 'every moved source id is in it (content is not compared: SKIP keeps the target\'s version, or the store cannot read by id)';
        notes.push(`${s.name}: the target held ${before} records before the job, so it was compared by key: ${how}.`);
      }
      continue;
    }
    const srcBuckets = new BucketSums();
    const tgtBuckets = new BucketSums();
    const [src, tgt] = await Promise.all([
      // A rejected record is not in the target: never a recall sample.
      s.expected ? Promise.resolve(s.expected) : checksumOf(s.scan, check.hash, pageSize, sampled === s.scan ? (item, i) => keep(item) && visit(item, i) : undefined, keep, (item, h) => srcBuckets.add(s.scan.idOf(item), h)),
      checksumOf(check.target, check.hash, pageSize, visitTarget, undefined, (item, h) => tgtBuckets.add(check.target.idOf(item), h)),
    ]);
    await orphanCheck();
    const srcHex = 'hex' in src ? src.hex : src.checksum;
    const match = src.count === tgt.count && (srcHex === null || srcHex === tgt.hex);
    tables.push({ name: s.name, sourceCount: src.count, targetCount: tgt.count, sourceChecksum: srcHex, targetChecksum: tgt.hex, checksumMatch: srcHex === null ? null : match });
    if (!match) {
      // Which keys: one more pass over the buckets whose sums differ.
      const diff = s.expected ? null : await keyDiff(s.scan, check.target, check.hash, srcBuckets.differing(tgtBuckets), pageSize, keep);
      const settled = diff ? await settledDiff(ctx, diff) : null;
      if (settled !== null) {
        tables[tables.length - 1].checksumMatch = true;
        notes.push(`${s.name}: the app wrote during the comparison; ${settled} differing record(s) were compared again with the app's active store and agree.`);
      } else {
        ok = false;
        notes.push(src.count !== tgt.count ? `${s.name}: ${src.count} in the source${rejected.size ? ` (after ${rejected.size} rejected)` : ''}, ${tgt.count} in the target.` : `${s.name}: same count (${src.count}) but the checksums differ: some records changed.`);
        if (diff) notes.push(describeDiff(s.name, diff));
      }
    }
    if (rejected.size) notes.push(`${s.name}: ${rejected.size} rejected record(s) left out of the comparison (see the reject file).`);
  }
  const sampled = await sampledRecall(ctx, samples, notes);
  if (!sampled.ok) ok = false;
  const result: MigrationVerification = { ok, tables, recallAt10: sampled.recallAt10, indexRecallAt10: null, orphans, notes, checkedAt: new Date().toISOString() };
  const measure = indexRecall(ctx, samples, result);
  if (o.deferIndexRecall) o.measureLater = measure;
  else await measure();
  return result;
}

/**
 * recall@10 of the sampled source vectors: the target's user-scoped neighbours against the source's. Not
 * ok when it could not be measured or the comparison found a problem; a low value is a note only.
 */
export async function sampledRecall(ctx: JobContext, samples: VectorRecord[], notes: string[]): Promise<{ recallAt10: number | null; ok: boolean }> {
  let recallAt10: number | null = null;
  let ok = true;
  if (ctx.recall && samples.length) {
    try {
      const r = await ctx.recall.measure(samples);
      recallAt10 = r.recall;
      if (r.problem) {
        ok = false;
        notes.push(r.problem);
      }
    } catch (e) {
      ok = false;
      notes.push(`recall@10 could not be measured: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  // Recall measures the target's nearest-neighbour index against the source's, not the data (which the
  // checksums compare exactly): a low value is reported, and does not fail the job on its own.
  if (recallAt10 !== null && recallAt10 < MIN_RECALL) {
    notes.push(`recall@10 ${recallAt10.toFixed(3)} is below ${MIN_RECALL}: the target's approximate index (e.g. pgvector HNSW with a user filter) returns other neighbours than the source for some queries, although the records are identical; raise the index's search breadth (hnsw.ef_search) if search quality matters more than speed.`);
  }
  return { recallAt10, ok };
}

/** Measures the target's search against an exact scan of the target for the samples, into `result` (gates nothing). */
export function indexRecall(ctx: JobContext, samples: VectorRecord[], result: MigrationVerification): () => Promise<void> {
  return async () => {
    if (!ctx.exactRecall || !samples.length) return;
    try {
      result.indexRecallAt10 = await ctx.exactRecall(samples);
      if (result.indexRecallAt10 !== null && result.indexRecallAt10 < MIN_INDEX_RECALL) {
        result.notes.push(`the target's search finds ${(result.indexRecallAt10 * 100).toFixed(1)}% of the exact top-10 (an exact scan of the target, for the sampled vectors): its approximate index misses some neighbours; on pgvector raise VECTOR_DB_HNSW_EF_SEARCH.`);
      }
    } catch (e) {
      result.notes.push(`the target's recall against an exact scan could not be measured: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
}

/**
 * When the context can settle differences (a target the app writes meanwhile) and every differing key
 * is listed: how many there were, once each agrees with the app's store; null when any still differs.
 */
async function settledDiff(ctx: JobContext, diff: KeyDiff): Promise<number | null> {
  if (!ctx.settle) return null;
  const ids = [...diff.missing, ...diff.extra, ...diff.changed];
  if (ids.length < diff.counts.missing + diff.counts.extra + diff.counts.changed) return null;
  return (await ctx.settle(ids)).length ? null : ids.length;
}

/**
 * Every kept source record's id must be in the target (the target may hold more); with `byContent` (an
 * OVERWRITE, on a store that reads by id) the target's record must also equal the source's.
 */
async function keyedCompare(s: Step, pageSize: number, keep: (item: unknown) => boolean, byContent: boolean, visit?: (item: unknown, i: number) => void): Promise<TableVerification & { differing: string[] }> {
  let sourceCount = 0;
  let present = 0;
  let i = 0;
  const differing: string[] = [];
  const src = new Checksum();
  const tgt = new Checksum();
  const fetch = byContent && s.check ? s.target.fetch?.bind(s.target) : undefined;
  for await (const page of prefetch(s.scan.pages(pageSize))) {
    for (const item of page.items) if (keep(item)) visit?.(item, i++);
    else i++; // a rejected record is not in the target: never a recall sample
    const kept = page.items.filter(keep);
    sourceCount += kept.length;
    if (!kept.length) continue;
    if (!fetch) {
      present += await s.target.existing(kept);
      continue;
    }
    const found = new Map((await fetch(kept.map((x) => s.scan.idOf(x)))).map((r) => [s.scan.idOf(r), r]));
    present += found.size;
    for (const item of kept) {
      const h = s.check!.hash(item);
      src.add(h);
      const t = found.get(s.scan.idOf(item));
      if (t === undefined) continue;
      const th = s.check!.hash(t);
      tgt.add(th);
      if (th !== h && differing.length < MAX_EXAMPLES) differing.push(s.scan.idOf(item));
    }
  }
  const compared = fetch !== undefined;
  return {
    name: s.name,
    sourceCount,
    targetCount: present,
    sourceChecksum: compared ? src.hex : null,
    targetChecksum: compared ? tgt.hex : null,
    checksumMatch: compared ? src.hex === tgt.hex && sourceCount === present : null,
    differing,
  };
}
