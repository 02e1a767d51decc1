import { Injectable } from '@nestjs/common';
import { SwitchyardError } from '@switchyard/core';
import { vectorFreezeTableName } from '../migrations/1764620000000-vector-freeze';
import { RelationalDb } from '../relational-db.port';

/** The message of a write refused because the app's vector store is frozen (the app maps it to MAINTENANCE). */
export const VECTOR_FREEZE_MESSAGE = 'MAINTENANCE: this vector store is frozen for a migration cutover; writes are refused until it ends';

/**
 * The vector stores frozen by a live VECTORS migration, by identity (VectorDb.identity()). The freeze is
 * honoured by the app's write path (KnowledgeService), not by the database: an instance on the frozen
 * store refuses document writes, an instance on the new store (maybe on this same database) writes on.
 */
@Injectable()
export class VectorFreezeRepository {
  constructor(private readonly db: RelationalDb) {}

  private get table(): string {
    return this.db.dataSource.driver.escape(vectorFreezeTableName(this.db.tablePrefix));
  }

  private p(i: number): string {
    return this.db.provider === 'postgres' ? `$${i}` : '?';
  }

  async isFrozen(store: string): Promise<boolean> {
    const rows = (await this.db.dataSource.query(`SELECT 1 AS one FROM ${this.table} WHERE store = ${this.p(1)}`, [store])) as unknown[];
    return rows.length > 0;
  }

  /** Throws MAINTENANCE when `store` is frozen. */
  async assertWritable(store: string): Promise<void> {
    if (await this.isFrozen(store)) throw new SwitchyardError('MAINTENANCE', VECTOR_FREEZE_MESSAGE, { store });
  }

  async freeze(store: string, jobId: string): Promise<void> {
    await this.db.dataSource.query(`INSERT INTO ${this.table} (store, job_id, since) VALUES (${this.p(1)}, ${this.p(2)}, ${this.p(3)}) ON CONFLICT (store) DO NOTHING`, [store, jobId, new Date().toISOString()]);
  }

  /** The job that froze `store`, or null when it is not frozen. */
  async frozenBy(store: string): Promise<string | null> {
    const [r] = (await this.db.dataSource.query(`SELECT job_id FROM ${this.table} WHERE store = ${this.p(1)}`, [store])) as { job_id: string | null }[];
    return r ? (r.job_id ?? '') : null;
  }

  /** Ends the freeze of `store` (only `jobId`'s, when given). True if it was frozen. */
  async unfreeze(store: string, jobId?: string): Promise<boolean> {
    const by = await this.frozenBy(store);
    if (by === null || (jobId !== undefined && by !== jobId)) return false;
    await this.db.dataSource.query(`DELETE FROM ${this.table} WHERE store = ${this.p(1)}${jobId !== undefined ? ` AND job_id = ${this.p(2)}` : ''}`, jobId !== undefined ? [store, jobId] : [store]);
    return true;
  }

  /** Every frozen store (readiness, unfreeze by profile). */
  async frozenStores(): Promise<string[]> {
    return ((await this.db.dataSource.query(`SELECT store FROM ${this.table}`)) as { store: string }[]).map((r) => r.store);
  }
}
