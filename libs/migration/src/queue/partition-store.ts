import { MigrationPartitionEntity, MigrationPartitionRejectEntity, RelationalDb } from '@switchyard/relational-db';
import { EntityManager, In, Not } from 'typeorm';
import { serialized } from '../job-store';

/** What a partition copied (carried page by page in its row; complete once it is DONE). */
export interface PartitionResult {
  /** The records the partition copied (rejects left out) as they were read: their count and order-independent checksum (Checksum.hex). */
  sourceCount: number;
  sourceChecksum: string;
  /** Records set aside so far (each in the rejects table, committed with its page). */
  rejected: number;
  /** A few of the range's ids (the job's recall sample is drawn from them). */
  samples: string[];
  ms: number;
}

/** A record a partition set aside, as the reject file holds it. */
export interface PartitionReject {
  id: string;
  reason: string;
  record: unknown;
}

/** An attempt that lost its partition to a newer one: it records nothing more. */
export class PartitionFenced extends Error {}

/**
 * A job's partitions in the target's relational DB. Every change an attempt makes is conditional on the
 * attempt's token (compare-and-swap), so exactly one attempt of a partition records progress and result.
 */
export class PartitionStore {
  constructor(private readonly db: RelationalDb) {}

  private get repo() {
    return this.db.repository(MigrationPartitionEntity);
  }

  private tx<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    const ds = this.db.dataSource;
    return serialized(ds, () => ds.transaction(fn));
  }

  /**
   * The records the job's partitions set aside (all of them, or these partitions'), in partition order.
   * A reject row counts only below its partition's committed count (`result.rejected`): rows an attempt
   * wrote for a page it then did not commit (fenced, or it died) are left out, and overwritten by the
   * attempt that commits that page.
   */
  async rejects(jobId: string, idxs?: number[], withRecords = true): Promise<{ step: string; idx: number; reject: PartitionReject }[]> {
    const parts = await this.repo.find({ where: { jobId, ...(idxs ? { idx: In(idxs) } : {}) } });
    const committed = new Map(parts.map((p) => [`${p.step}\0${p.idx}`, (p.result as { rejected?: number } | null)?.rejected ?? 0]));
    const rows = await this.db.repository(MigrationPartitionRejectEntity).find({
      where: { jobId, ...(idxs ? { idx: In(idxs) } : {}) },
      order: { step: 'ASC', idx: 'ASC', n: 'ASC' },
      ...(withRecords ? {} : { select: { jobId: true, step: true, idx: true, n: true, recordId: true, reason: true } }),
    });
    return rows
      .filter((r) => r.n < (committed.get(`${r.step}\0${r.idx}`) ?? 0))
      .map((r) => ({ step: r.step, idx: r.idx, reject: { id: r.recordId, reason: r.reason, record: withRecords ? (JSON.parse(r.record) as unknown) : null } }));
  }

  list(jobId: string): Promise<MigrationPartitionEntity[]> {
    return this.repo.find({ where: { jobId }, order: { step: 'ASC', idx: 'ASC' } });
  }

  get(jobId: string, step: string, idx: number): Promise<MigrationPartitionEntity | null> {
    return this.repo.findOne({ where: { jobId, step, idx } });
  }

  /** Records the ranges a step is cut into: (, k1], (k1, k2], ..., (kn, ). Kept if the step has them already (a resumed job). */
  async split(jobId: string, step: string, points: string[]): Promise<MigrationPartitionEntity[]> {
    const existing = await this.repo.find({ where: { jobId, step }, order: { idx: 'ASC' } });
    if (existing.length) return existing;
    const bounds = [undefined, ...points];
    const rows = bounds.map((after, idx) =>
      Object.assign(new MigrationPartitionEntity(), {
        jobId,
        step,
        idx,
        afterKey: after ?? null,
        untilKey: points[idx] ?? null,
        status: 'PENDING',
        token: 0,
        attempts: 0,
        cursor: null,
        done: 0,
        written: 0,
        result: null,
        worker: null,
        updated: new Date().toISOString(),
      }),
    );
    // All or none: a coordinator that dies half-way must not leave a partial set that a resume takes as complete.
    await this.tx(async (em) => {
      for (let i = 0; i < rows.length; i += 500) await em.getRepository(MigrationPartitionEntity).insert(rows.slice(i, i + 500));
    });
    return rows;
  }

  /**
   * Stops every unfinished partition of the job: its token moves on (the next commit of an attempt still
   * busy with it fails) and it is STOPPED, which no attempt begins (a retry of the stopped run ends at once)
   * until the next run of the job reopens it.
   */
  async stopAll(jobId: string): Promise<void> {
    for (const p of await this.repo.find({ where: { jobId, status: Not('DONE') } })) {
      // Compare-and-swap per partition: an attempt that took a token meanwhile is fenced by the next round.
      for (let token = p.token; ; ) {
        const r = await this.repo.update({ jobId, step: p.step, idx: p.idx, token, status: Not('DONE') }, { token: token + 1, status: 'STOPPED', updated: new Date().toISOString() });
        if (r.affected) break;
        const now = await this.get(jobId, p.step, p.idx);
        if (!now || now.status === 'DONE') break;
        token = now.token;
      }
    }
  }

  /** A new run of the job: its stopped partitions may begin again. */
  async reopen(jobId: string): Promise<void> {
    await this.repo.update({ jobId, status: 'STOPPED' }, { status: 'PENDING', updated: new Date().toISOString() });
  }

  /** The job's partitions without what they carry (`result`): what progress polling needs. */
  listLight(jobId: string): Promise<MigrationPartitionEntity[]> {
    return this.repo.find({ where: { jobId }, order: { step: 'ASC', idx: 'ASC' }, select: { jobId: true, step: true, idx: true, status: true, token: true, attempts: true, done: true, written: true, worker: true, updated: true } });
  }

  async clear(jobId: string): Promise<void> {
    // Rejects first: a crash in between leaves partitions without rejects (counted from their rows), never the reverse.
    await this.db.repository(MigrationPartitionRejectEntity).delete({ jobId });
    await this.repo.delete({ jobId });
  }

  /**
   * A new attempt of a partition: takes the next token (compare-and-swap on the one read). 'done' when an
   * attempt before this one finished it, 'stopped' when its run stopped (stopAll).
   */
  async begin(jobId: string, step: string, idx: number, worker: string): Promise<MigrationPartitionEntity | 'done' | 'stopped'> {
    for (;;) {
      const p = await this.get(jobId, step, idx);
      if (!p) return 'stopped'; // the job was run again from the start (its partitions cleared)
      if (p.status === 'DONE') return 'done';
      if (p.status === 'STOPPED') return 'stopped';
      const next = { token: p.token + 1, attempts: p.attempts + 1, status: 'RUNNING', worker, updated: new Date().toISOString() };
      const r = await this.repo.update({ jobId, step, idx, token: p.token, status: Not('STOPPED') }, next);
      if (!r.affected) continue;
      // Read again with the token held: an older attempt's page commit that landed between the read above
      // and the swap is in it (none can land after).
      const now = await this.get(jobId, step, idx);
      if (now && now.token === next.token) return now;
    }
  }

  /**
   * Commits a page of the attempt holding `token`: first the page's rejects (numbered on from
   * `firstReject`, written over whatever an attempt that did not commit left there), then, fenced, where
   * the partition stands and how many rejects it has: the rejects count only once that commit is made.
   */
  async advance(p: MigrationPartitionEntity, token: number, fields: Pick<MigrationPartitionEntity, 'cursor' | 'done' | 'written' | 'result'>, rejects: PartitionReject[] = [], firstReject = 0): Promise<void> {
    const rows = rejects.map((x, i) => ({ jobId: p.jobId, step: p.step, idx: p.idx, n: firstReject + i, recordId: x.id, reason: x.reason, record: JSON.stringify(x.record) }));
    for (let i = 0; i < rows.length; i += 200) await this.db.repository(MigrationPartitionRejectEntity).upsert(rows.slice(i, i + 200), ['jobId', 'step', 'idx', 'n']);
    await this.fenced(p, token, { ...fields, updated: new Date().toISOString() });
  }

  /** The attempt holding `token` finished: its result, and the partition is done. */
  async complete(p: MigrationPartitionEntity, token: number, result: PartitionResult): Promise<void> {
    await this.fenced(p, token, { status: 'DONE', result: result as never, updated: new Date().toISOString() });
  }

  private async fenced(p: MigrationPartitionEntity, token: number, fields: Partial<MigrationPartitionEntity>): Promise<void> {
    const r = await this.repo.update({ jobId: p.jobId, step: p.step, idx: p.idx, token }, fields as never);
    if (!r.affected) throw this.fencedError(p);
  }

  private fencedError(p: MigrationPartitionEntity): PartitionFenced {
    return new PartitionFenced(`partition ${p.idx} of ${p.step} in job ${p.jobId} was taken by a newer attempt; this one records nothing more`);
  }
}
