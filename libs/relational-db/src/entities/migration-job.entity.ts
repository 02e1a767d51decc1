import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A migration job and its state; lives in the target's relational DB so it survives a crash. */
@Entity('switchyard_migration_jobs')
export class MigrationJobEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Column({ type: 'varchar', length: 32 })
  kind: string;

  @Index('idx_migration_jobs_status')
  @Column({ type: 'varchar', length: 32 })
  status: string;

  @Column({ type: 'varchar', length: 255 })
  source: string;

  @Column({ type: 'varchar', length: 255 })
  target: string;

  @Column({ name: 'dry_run', type: 'boolean', default: false })
  dryRun: boolean;

  @Column({ name: 'on_conflict', type: 'varchar', length: 16 })
  onConflict: string;

  @Column({ name: 'batch_size', type: 'integer' })
  batchSize: number;

  /** Job options (paths, formats) beyond the fixed columns. */
  @Column({ type: 'json', nullable: true })
  options: Record<string, unknown> | null;

  @Column({ type: 'json', nullable: true })
  plan: unknown;

  @Column({ type: 'json', nullable: true })
  progress: unknown;

  @Column({ type: 'json', nullable: true })
  verification: unknown;

  @Column({ type: 'json', nullable: true })
  backups: unknown;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ name: 'started_at', type: Date, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: Date, nullable: true })
  finishedAt: Date | null;

  @Column({ name: 'heartbeat_at', type: Date, nullable: true })
  heartbeatAt: Date | null;

  /** The run that holds the job now (fencing token); a run whose id is no longer here stops writing. */
  @Column({ name: 'run_id', type: 'varchar', length: 64, nullable: true })
  runId: string | null;

  /** The process running it: "<instance id>/<boot id>/<pid>". */
  @Column({ type: 'varchar', length: 255, nullable: true })
  owner: string | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt: Date;
}

/** Per-step checkpoint: the last key written and how many rows are done, committed with each batch. */
@Entity('switchyard_migration_checkpoints')
export class MigrationCheckpointEntity {
  @PrimaryColumn({ name: 'job_id', type: 'varchar', length: 64 })
  jobId: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  step: string;

  @Column({ type: 'text', nullable: true })
  cursor: string | null;

  @Column({ type: 'integer', default: 0 })
  done: number;

  @Column({ type: 'integer', default: 0 })
  total: number;

  @Column({ type: 'boolean', default: false })
  finished: boolean;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt: Date;
}

/** One row per target: only one migration may write into a target at a time. */
@Entity('switchyard_migration_locks')
export class MigrationLockEntity {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  target: string;

  @Column({ name: 'job_id', type: 'varchar', length: 64 })
  jobId: string;

  @Column({ name: 'acquired_at', type: Date })
  acquiredAt: Date;

  /** The run of the job that holds the lock (fencing token). */
  @Column({ name: 'run_id', type: 'varchar', length: 64, nullable: true })
  runId: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  owner: string | null;
}

/**
 * One key range of a step run as its own unit of work by a queue worker (MIGRATION_QUEUE=bullmq): the
 * range `(after, until]` in the source's key order, where its copy stands, and what it read and verified.
 * `token` fences attempts: an attempt takes the next token when it starts and records only while it
 * still holds it, so a worker that was given up for dead cannot record over the attempt that replaced it.
 */
@Entity('switchyard_migration_partitions')
export class MigrationPartitionEntity {
  @PrimaryColumn({ name: 'job_id', type: 'varchar', length: 64 })
  jobId: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  step: string;

  @PrimaryColumn({ type: 'integer' })
  idx: number;

  /** The range's lower bound, exclusive (null: from the first key). */
  @Column({ name: 'after_key', type: 'text', nullable: true })
  afterKey: string | null;

  /** The range's upper bound, inclusive (null: to the last key, including keys added since the split). */
  @Column({ name: 'until_key', type: 'text', nullable: true })
  untilKey: string | null;

  /** PENDING, RUNNING, DONE, STOPPED (its run stopped; the next run reopens it). */
  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ type: 'integer', default: 0 })
  token: number;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** The last key copied by the attempt holding the token (a retry resumes after it). */
  @Column({ type: 'text', nullable: true })
  cursor: string | null;

  @Column({ type: 'integer', default: 0 })
  done: number;

  @Column({ type: 'integer', default: 0 })
  written: number;

  /** What the committed pages copied: count, checksum, rejects, sampled ids (complete once DONE). */
  @Column({ type: 'json', nullable: true })
  result: Record<string, unknown> | null;

  /** The worker holding the token: "<instance>/<boot>/<pid>". */
  @Column({ type: 'varchar', length: 255, nullable: true })
  worker: string | null;

  /** ISO-8601 time of the last change (the rate and ETA are computed from it). */
  @Column({ name: 'updated', type: 'varchar', length: 32, nullable: true })
  updated: string | null;
}

/** A record a queued partition set aside, committed with the page it came in (its job's reject file is written from these). */
@Entity('switchyard_migration_partition_rejects')
export class MigrationPartitionRejectEntity {
  @PrimaryColumn({ name: 'job_id', type: 'varchar', length: 64 })
  jobId: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  step: string;

  /** The partition. */
  @PrimaryColumn({ type: 'integer' })
  idx: number;

  /** Its place among the partition's rejects (committed page by page, so a retry goes on from the count). */
  @PrimaryColumn({ type: 'integer' })
  n: number;

  /** The record's id as the source has it (any length: an id too long is one reason to set a record aside). */
  @Column({ name: 'record_id', type: 'text' })
  recordId: string;

  @Column({ type: 'text' })
  reason: string;

  /** The record as the reject file holds it (JSON). */
  @Column({ type: 'text' })
  record: string;
}

/**
 * One generation of the embedded chunks: a vector collection written with one embedding model. Exactly
 * one is ACTIVE (searched); a BUILDING one is being backfilled by a BLUE_GREEN re-index; a PREVIOUS one
 * was active before a switch and is kept for rollback. The app writes every generation that is not
 * DROPPED, so each stays complete. No row at all: the configured collection and model are the only one.
 */
@Entity('switchyard_embedding_generations')
export class EmbeddingGenerationEntity {
  @PrimaryColumn({ type: 'integer' })
  id: number;

  @Column({ type: 'varchar', length: 255 })
  model: string;

  @Column({ type: 'integer' })
  dimensions: number;

  /** The vector collection (table) that holds it, on the configured vector provider. */
  @Column({ type: 'varchar', length: 63 })
  collection: string;

  /** ACTIVE, BUILDING, PREVIOUS or DROPPED. */
  @Column({ type: 'varchar', length: 16 })
  state: string;

  /** The BLUE_GREEN re-index job that builds (built) it; null for the first generation. */
  @Column({ name: 'job_id', type: 'varchar', length: 64, nullable: true })
  jobId: string | null;

  /** ISO-8601 times: created, and the last change of state. */
  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'changed_at', type: 'varchar', length: 32 })
  changedAt: string;
}
