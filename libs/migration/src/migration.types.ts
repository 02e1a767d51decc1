import type { TableSelection } from './table-order';
import type { MigrationQueueConfig, ProviderProfile } from '@switchyard/core';
import type { Embeddings } from '@switchyard/embeddings';
import type { ModelGenerations } from '@switchyard/knowledge';
import type { RelationalDb } from '@switchyard/relational-db';
import type { VectorDb } from '@switchyard/vector-db';

/** What a migration moves. */
export type MigrationKind = 'RELATIONAL' | 'VECTORS' | 'REINDEX' | 'FULL_STACK';
/** What an export/import file holds. */
export type DatasetKind = 'RELATIONAL' | 'VECTORS';
/** Every kind of job recorded in the job table. */
export type JobKind = MigrationKind | 'EXPORT' | 'IMPORT' | 'RESTORE';
export type ConflictPolicy = 'FAIL' | 'SKIP' | 'OVERWRITE' | 'TRUNCATE';
/**
 * PLANNED is the final state of a dry run (its plan is ready). A real run goes RUNNING -> one of:
 * - SUCCEEDED: verification passed and nothing was set aside;
 * - SUCCEEDED_WITH_REJECTS: verification passed for everything that was moved, and some records were set
 *   aside (counted per step, each in the job's reject file with its reason);
 * - FAILED: an error, a refusal, or a verification that did not pass (errorCode VERIFICATION_FAILED);
 * - CANCELLED: stopped by request or by shutdown (resumable).
 */
/** CUT_OVER: a live job verified the target while the source was frozen; the source stays frozen. */
export type JobStatus = 'PLANNED' | 'RUNNING' | 'SUCCEEDED' | 'SUCCEEDED_WITH_REJECTS' | 'CUT_OVER' | 'FAILED' | 'CANCELLED';
export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['PLANNED', 'SUCCEEDED', 'SUCCEEDED_WITH_REJECTS', 'CUT_OVER', 'FAILED', 'CANCELLED']);
/** Statuses that mean "the data moved and was verified". */
export const SUCCESS_STATUSES: ReadonlySet<JobStatus> = new Set(['SUCCEEDED', 'SUCCEEDED_WITH_REJECTS', 'CUT_OVER']);

export const MIGRATION_KINDS: readonly MigrationKind[] = ['RELATIONAL', 'VECTORS', 'REINDEX', 'FULL_STACK'];
export const DATASET_KINDS: readonly DatasetKind[] = ['RELATIONAL', 'VECTORS'];
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['FAIL', 'SKIP', 'OVERWRITE', 'TRUNCATE'];
/** The profile name that means "the active providers" (the target itself), e.g. to export a backup of them. */
export const ACTIVE_PROFILE = 'active';

/** A record that was not moved, and why. */
export interface Rejected {
  id: string;
  reason: string;
}

/** Per table / collection counters of a run (pgloader-style summary). */
export interface StepProgress {
  name: string;
  /** Units to process (rows, vectors; documents for a re-index). */
  total: number;
  /** Units read from the source so far. */
  read: number;
  /** Records written into the target. */
  written: number;
  /** Records left alone because they were already present (SKIP). */
  skipped: number;
  /** A re-index: documents left alone because the store already holds their chunks as this model and chunker make them. */
  unchanged?: number;
  /** Records that could not be moved (first few in `rejected`). */
  errors: number;
  /** Time spent on this step, all runs together. */
  ms: number;
  finished: boolean;
  /** The first few rejected records (all of them are in the job's reject file). */
  rejected: Rejected[];
  /** Records the target held when this step's first run began writing (after TRUNCATE): 0 means a full comparison. */
  targetBefore?: number | null;
}

export interface MigrationProgress {
  total: number;
  done: number;
  ratePerSecond: number;
  etaSeconds: number | null;
  /** What the job is doing now: plan, backup, copy, catch-up, freeze, verify, done. */
  phase: string;
  steps: StepProgress[];
  /** A live job: its catch-up and freeze. */
  live?: LiveProgress;
  /** A job run by queue workers (MIGRATION_QUEUE=bullmq): its partitions and who works on them. */
  queue?: QueueProgress;
}

/** The partitions of a queued job: how many, finished, being worked on, attempts so far, and by which workers. */
export interface QueueProgress {
  partitions: number;
  finished: number;
  running: number;
  /** Attempts over all partitions (more than `partitions` once a worker died or a partition failed and was retried). */
  attempts: number;
  /** Workers that hold a partition now ("<instance>/<boot>/<pid>"). */
  workers: string[];
}

/** A live job's change capture: rounds of catch-up, changes applied, the backlog, the freeze. */
export interface LiveProgress {
  rounds: number;
  applied: number;
  backlog: number;
  frozen: boolean;
  /** From the freeze to the verified cutover (null until then). */
  freezeMs: number | null;
  /** Rows set aside during the copy that the frozen source let through at the end (their parent was caught up). */
  resolvedRejects?: number;
}

export interface TableVerification {
  name: string;
  sourceCount: number;
  targetCount: number;
  /** Order-independent 64-bit checksums (hex) of every row / vector. */
  sourceChecksum: string | null;
  targetChecksum: string | null;
  /** null when checksums cannot be compared (a re-index makes new vectors). */
  checksumMatch: boolean | null;
}

export interface MigrationVerification {
  ok: boolean;
  tables: TableVerification[];
  /** Sampled user-scoped top-10 of the target against the source (vectors), or self-retrieval after a re-index. */
  recallAt10: number | null;
  /** The target's own top-10 for the sampled vectors against an exact scan of the target (what its index loses). */
  indexRecallAt10?: number | null;
  /** Vectors in the target whose document has no row in the relational database (null: not checked). */
  orphans?: number | null;
  notes: string[];
  checkedAt: string;
}

export interface Backup {
  step: string;
  /** `table`: a snapshot table in the target relational DB; `file`: an NDJSON export in the data dir. */
  kind: 'table' | 'file';
  /** Snapshot table name, or file path relative to the data dir. */
  name: string;
  rows: number;
  /** Order-independent checksum (hex) of what was backed up; a restore is verified against it. */
  checksum?: string | null;
  /** The target step was empty: nothing to copy, a restore empties it. */
  empty?: boolean;
  createdAt: string;
}

export interface VectorSide {
  provider: string;
  location: string;
  collection: string;
  /** The stored dimension (or the configured one for an empty, new store). */
  dimensions: number | null;
  metric: string | null;
  model: string | null;
  /** Why the store cannot be written with its configuration as it is, if so. */
  mismatch?: string | null;
}

export interface PlanSide {
  profile: string;
  relational?: string;
  vector?: VectorSide;
  file?: string;
  embeddings?: { model: string; dimensions: number };
}

export interface PlanStep {
  name: string;
  kind: 'table' | 'collection' | 'documents' | 'file';
  sourceCount: number;
  targetCount: number;
  /** Source ids already present in the target (dry runs scan everything; real runs leave it null). */
  conflictingIds: number | null;
  /** Records that cannot be moved as they are (NaN, wrong dimension, too long for the target column...). */
  invalid: number | null;
  /** Of `invalid`: records whose unique key (other than the id) is already used in the source or target. */
  uniqueConflicts?: number | null;
  invalidExamples: Rejected[];
  /** Re-index: how many chunks the documents make. */
  chunks?: number;
}

export interface MigrationPlan {
  source: PlanSide;
  target: PlanSide;
  steps: PlanStep[];
  /** Why a real run with this job's settings would be refused before writing, or null. */
  refusal: { code: string; message: string } | null;
  warnings: string[];
  /** Rough duration of a real run, from a timed sample of the first batch. */
  estimatedSeconds: number | null;
  sample: { items: number; ms: number } | null;
}

export interface JobOptions {
  /** EXPORT / IMPORT: which dataset the file holds. */
  dataset?: DatasetKind;
  /** EXPORT / IMPORT: file path relative to the data dir. */
  path?: string;
  /** Pause between batches (ms), to spare a live source. */
  throttleMs?: number;
  /** RESTORE: the job whose backups are restored. */
  fromJob?: string;
  /** EXPORT: replace an existing file. */
  overwrite?: boolean;
  /** The reject file (relative to the data dir) where every record set aside is written with its reason. */
  rejectFile?: string;
  /** Backups of earlier runs of this job (a re-run from the start takes new ones). */
  previousBackups?: Backup[];
  /** RELATIONAL / EXPORT / IMPORT of tables: which tables (by name; default every table of the entities). */
  tables?: TableSelection;
  /** RELATIONAL: capture the source's writes during the copy, catch up, freeze, cut over (the operator's consent to add triggers to the source). */
  live?: boolean;
  /** REINDEX: embed every document again, also those whose stored chunks are already what the model and chunker make of them. */
  full?: boolean;
  /** REINDEX: IN_PLACE (default) rewrites the active store; BLUE_GREEN builds a new embedding generation beside it. */
  mode?: ReindexMode;
}

/** A job as the service returns it. */
export interface MigrationJob {
  id: string;
  kind: JobKind;
  status: JobStatus;
  /** Source profile name (or `file:<path>` for an import, `job:<id>` for a restore). */
  source: string;
  /** Target label (the active relational DB without secrets, or `file:<path>` for an export). */
  target: string;
  dryRun: boolean;
  onConflict: ConflictPolicy;
  batchSize: number;
  options: JobOptions;
  plan: MigrationPlan | null;
  progress: MigrationProgress | null;
  verification: MigrationVerification | null;
  backups: Backup[];
  error: string | null;
  /** Error code of `error` (CONFLICT, DIMENSION_MISMATCH, VERIFICATION_FAILED, CANCELLED...). */
  errorCode: string | null;
  /** Where every record this job set aside is written with its reason (relative to the data dir). */
  rejectFile: string | null;
  /** The process that runs (or last ran) the job: "<instance>/<boot id>/<pid namespace>/<pid>/<nonce>". */
  owner: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  heartbeatAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** RUNNING, but its process stopped sending heartbeats: it died; resume() continues it. */
  stale: boolean;
  /** A REINDEX's mode (BLUE_GREEN builds a new embedding generation); null for other kinds. */
  mode: ReindexMode | null;
}

export type ReindexMode = 'IN_PLACE' | 'BLUE_GREEN';
export const REINDEX_MODES: readonly ReindexMode[] = ['IN_PLACE', 'BLUE_GREEN'];

export interface StartMigrationInput {
  kind: MigrationKind;
  /**
   * REINDEX only. IN_PLACE (default): the active store is re-embedded where it is. BLUE_GREEN: a new
   * embedding generation with the next model (EMBEDDINGS_NEXT_*) is built in a collection of its own
   * while the app searches the active one and writes both; switchModel makes it active once verified.
   */
  mode?: ReindexMode;
  /** Source profile name (MIGRATION_<NAME>_*), default `source`. Ignored by REINDEX (it reads the target's documents). */
  source?: string;
  dryRun?: boolean;
  onConflict?: ConflictPolicy;
  batchSize?: number;
  throttleMs?: number;
  /** RELATIONAL: which tables to move, by name (`users`, `documents`, a host table); default all of them. */
  tables?: TableSelection;
  /**
   * RELATIONAL: a live migration of a source that keeps taking writes. Consents to change-capture
   * triggers on the source for the job's duration; ends with a short write freeze of the source and CUT_OVER.
   */
  live?: boolean;
  /**
   * REINDEX: embed every document again. By default a re-index is incremental: a document whose stored
   * chunks already are exactly what the current model and chunker make of it is left alone.
   */
  full?: boolean;
}

export interface ExportInput {
  kind: DatasetKind;
  /** Profile to export, default `active` (the target's own data: a backup). */
  source?: string;
  /** File path relative to the data dir. */
  path: string;
  batchSize?: number;
  /** Replace an existing file (default: refuse with CONFLICT). */
  overwrite?: boolean;
}

export interface ImportInput {
  kind: DatasetKind;
  path: string;
  onConflict?: ConflictPolicy;
  dryRun?: boolean;
  batchSize?: number;
  throttleMs?: number;
}

export interface ResumeOptions {
  /** Re-run a SUCCEEDED (or FAILED) job from the start with conflict policy OVERWRITE, after new backups (otherwise a finished job is left alone and a failed one continues from its checkpoints). */
  overwrite?: boolean;
}

/** Turns a document's text into chunks, exactly as the knowledge service indexes it. */
export type ChunkFn = (text: string) => string[] | Promise<string[]>;

export interface MigrationLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface MigrationDeps {
  /** The active providers, already open. Jobs, checkpoints and locks live in `target.relational`. */
  target: { relational: RelationalDb; vector: VectorDb };
  /** The active embeddings model (needed by REINDEX). */
  embeddings?: Embeddings;
  /** The embedding generations the app serves (KnowledgeModule's ModelGenerations): needed by BLUE_GREEN re-indexes and the model switch. */
  generations?: ModelGenerations;
  /** Named source profiles (config.migration.profiles). */
  profiles: Record<string, ProviderProfile>;
  /** Where export/import files and vector backups live; paths outside are refused. */
  dataDir: string;
  defaultBatchSize: number;
  /** Chunker used by REINDEX; default: the knowledge service's chunker with 1000/200. */
  chunk?: ChunkFn;
  logger?: MigrationLogger;
  /** A RUNNING job whose heartbeat is older than this is considered dead (default 30 s). */
  staleAfterMs?: number;
  /** Names this app instance in job owners (default: the host name); must be unique per running instance. */
  instanceId?: string;
  /** The API's limit on a document's size (KNOWLEDGE_MAX_DOCUMENT_BYTES): larger documents are rejected. */
  maxDocumentBytes?: number;
  /** MIGRATION_QUEUE=bullmq: VECTORS copies run as partitions by queue workers (config.migration.queue). */
  queue?: MigrationQueueConfig;
}
