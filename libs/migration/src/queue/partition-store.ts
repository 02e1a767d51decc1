import { MigrationPartitionEntity, RelationalDb } from '@switchyard/relational-db';
import { Not } from 'typeorm';

/** What the attempt that finished a partition found (both sides of its range), kept on its row. */
export interface PartitionResult {
  sourceCount: number;
  /** Order-independent checksums (Checksum.hex): the sum of the range's record hashes mod 2^64. */
  sourceChecksum: string;
  targetCount: number;
  targetChecksum: string;
  /** Records set aside, as the reject file holds them. */
  rejects: { id: string; reason: string; record: unknown }[];
  /** A few of the range's ids (the job's recall sample is drawn from them). */
  samples: string[];
  /** Vectors of the range without a document row (null: not checked), and why not or which. */
  orphans: number | null;
  orphanNote: string | null;
  ms: number;
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
    await this.db.dataSource.transaction(async (em) => {
      for (let i = 0; i < rows.length; i += 500) await em.getRepository(MigrationPartitionEntity).insert(rows.slice(i, i + 500));
    });
    return rows;
  }

  /**
   * Fences every attempt of the job's unfinished partitions (their next commit fails): a run that stops
   * (cancelled, failed, taken over) records nothing more from workers still busy with it.
   */
  async fenceAll(jobId: string): Promise<void> {
    for (const p of await this.repo.find({ where: { jobId, status: Not('DONE') } })) {
      // Compare-and-swap per partition: an attempt that took a token meanwhile is fenced by the next round.
      for (let token = p.token; ; ) {
        const r = await this.repo.update({ jobId, step: p.step, idx: p.idx, token, status: Not('DONE') }, { token: token + 1, status: 'PENDING', updated: new Date().toISOString() });
        if (r.affected) break;
        const now = await this.get(jobId, p.step, p.idx);
        if (!now || now.status === 'DONE') break;
        token = now.token;
      }
    }
  }

  async clear(jobId: string): Promise<void> {
    await this.repo.delete({ jobId });
  }

  /**
   * A new attempt of a partition: takes the next token (compare-and-swap on the one read). Null when the
   * partition is done already (a retry of an attempt that finished just before its worker died).
   */
  async begin(jobId: string, step: string, idx: number, worker: string): Promise<MigrationPartitionEntity | null> {
    for (;;) {
      const p = await this.get(jobId, step, idx);
      if (!p) throw new Error(`partition ${idx} of ${step} in job ${jobId} does not exist`);
      if (p.status === 'DONE') return null;
      const next = { token: p.token + 1, attempts: p.attempts + 1, status: 'RUNNING', worker, updated: new Date().toISOString() };
      const r = await this.repo.update({ jobId, step, idx, token: p.token }, next);
      if (r.affected) return Object.assign(p, next);
    }
  }

  /** Commits a page of the attempt holding `token`: where it stands, and what the pages so far hold. */
  async advance(p: MigrationPartitionEntity, token: number, fields: Pick<MigrationPartitionEntity, 'cursor' | 'done' | 'written' | 'result'>): Promise<void> {
    await this.fenced(p, token, { ...fields, updated: new Date().toISOString() });
  }

  /** The attempt holding `token` finished: its result, and the partition is done. */
  async complete(p: MigrationPartitionEntity, token: number, result: PartitionResult): Promise<void> {
    await this.fenced(p, token, { status: 'DONE', result: result as never, updated: new Date().toISOString() });
  }

  private async fenced(p: MigrationPartitionEntity, token: number, fields: Partial<MigrationPartitionEntity>): Promise<void> {
    const r = await this.repo.update({ jobId: p.jobId, step: p.step, idx: p.idx, token }, fields as never);
    if (!r.affected) throw new PartitionFenced(`partition ${p.idx} of ${p.step} in job ${p.jobId} was taken by a newer attempt; this one records nothing more`);
  }
}
