import { Injectable } from '@nestjs/common';
import { SwitchyardError } from '@switchyard/core';
import { vectorFreezeTableName } from '../migrations/1764620000000-vector-freeze';
import type { EntityManager } from 'typeorm';
import { LockScope, RelationalDb } from '../relational-db.port';

/** The message of a write refused because the app's vector store is frozen (the app maps it to MAINTENANCE). */
export const VECTOR_FREEZE_MESSAGE = 'MAINTENANCE: this vector store is frozen for a migration cutover; writes are refused until it ends';

/**
 * The vector stores frozen by a live VECTORS migration, by identity (VectorDb.identity()). The freeze is
 * honoured by the app's write path (KnowledgeService), not by the database: an instance on the frozen
 * store refuses document writes, an instance on the new store (maybe on this same database) writes on.
 */
@Injectable()
export class VectorFreezeRepository {
  /** Set on a copy made by inScope(): statements go through this transaction. */
  private manager: EntityManager | null = null;

  constructor(private readonly db: RelationalDb) {}

  /** This repository inside a withLock() section's transaction (where it has one: PostgreSQL). */
  inScope(scope: LockScope): VectorFreezeRepository {
    const r = new VectorFreezeRepository(this.db);
    r.manager = scope.manager;
    return r;
  }

  private query(sql: string, params?: unknown[]): Promise<unknown[]> {
    return (this.manager ?? this.db.dataSource).query(sql, params) as Promise<unknown[]>;
  }

  private get table(): string {
    return this.db.dataSource.driver.escape(vectorFreezeTableName(this.db.tablePrefix));
  }

  private p(i: number): string {
    return this.db.provider === 'postgres' ? `$${i}` : '?';
  }

  async isFrozen(store: string): Promise<boolean> {
    const rows = (await this.query(`SELECT 1 AS one FROM ${this.table} WHERE store = ${this.p(1)}`, [store])) as unknown[];
    return rows.length > 0;
  }

  /**
   * Throws MAINTENANCE when `store` is frozen. In a PostgreSQL transaction (inScope), it first takes the
   * store's advisory lock shared until that transaction ends: freeze() waits for every write that
   * passed this check, so a write is either refused or committed before the freeze begins.
   */
  async assertWritable(store: string): Promise<void> {
    if (this.manager && this.db.provider === 'postgres') await this.query('SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))', [`switchyard-vector-freeze:${store}`]);
    if (await this.isFrozen(store)) throw new SwitchyardError('MAINTENANCE', VECTOR_FREEZE_MESSAGE, { store });
  }

  /**
   * Freezes `store` for `jobId`. PostgreSQL: after the writes in flight (their transactions hold the
   * store's advisory lock shared, see assertWritable) have committed; new ones wait for this
   * transaction, then see the freeze. The wait is bounded by the query timeout.
   */
  async freeze(store: string, jobId: string): Promise<void> {
    const insert = `INSERT INTO ${this.table} (store, job_id, since) VALUES (${this.p(1)}, ${this.p(2)}, ${this.p(3)}) ON CONFLICT (store) DO NOTHING`;
    const args = [store, jobId, new Date().toISOString()];
    if (this.db.provider !== 'postgres') {
      await this.query(insert, args);
      return;
    }
    // In a withLock() section: its own transaction, and a connection that is closed, not pooled, if the
    // wait times out (the lock could be granted later to a transaction nobody ends).
    await this.db.withLock(`vector-freeze:${store}`, async ({ manager }) => {
      await manager!.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`switchyard-vector-freeze:${store}`]);
      await manager!.query(insert, args);
    });
  }

  /** The job that froze `store`, or null when it is not frozen. */
  async frozenBy(store: string): Promise<string | null> {
    const [r] = (await this.query(`SELECT job_id FROM ${this.table} WHERE store = ${this.p(1)}`, [store])) as { job_id: string | null }[];
    return r ? (r.job_id ?? '') : null;
  }

  /** Ends the freeze of `store` (only `jobId`'s, when given). True if it was frozen. */
  async unfreeze(store: string, jobId?: string): Promise<boolean> {
    const by = await this.frozenBy(store);
    if (by === null || (jobId !== undefined && by !== jobId)) return false;
    await this.query(`DELETE FROM ${this.table} WHERE store = ${this.p(1)}${jobId !== undefined ? ` AND job_id = ${this.p(2)}` : ''}`, jobId !== undefined ? [store, jobId] : [store]);
    return true;
  }

  /** Every frozen store (readiness, unfreeze by profile). */
  async frozenStores(): Promise<string[]> {
    return ((await this.query(`SELECT store FROM ${this.table}`)) as { store: string }[]).map((r) => r.store);
  }
}
