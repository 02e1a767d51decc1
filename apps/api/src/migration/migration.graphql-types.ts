import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLScalarType, Kind, ValueNode } from 'graphql';

export enum MigrationKindEnum {
  RELATIONAL = 'RELATIONAL',
  VECTORS = 'VECTORS',
  REINDEX = 'REINDEX',
  FULL_STACK = 'FULL_STACK',
}
export enum DatasetKindEnum {
  RELATIONAL = 'RELATIONAL',
  VECTORS = 'VECTORS',
}
export enum ConflictPolicyEnum {
  FAIL = 'FAIL',
  SKIP = 'SKIP',
  OVERWRITE = 'OVERWRITE',
  TRUNCATE = 'TRUNCATE',
}
export enum JobStatusEnum {
  PLANNED = 'PLANNED',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  SUCCEEDED_WITH_REJECTS = 'SUCCEEDED_WITH_REJECTS',
  CUT_OVER = 'CUT_OVER',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}
export enum ReindexModeEnum {
  IN_PLACE = 'IN_PLACE',
  BLUE_GREEN = 'BLUE_GREEN',
}
export enum GenerationStateEnum {
  ACTIVE = 'ACTIVE',
  BUILDING = 'BUILDING',
  PREVIOUS = 'PREVIOUS',
  DROPPED = 'DROPPED',
}
registerEnumType(ReindexModeEnum, {
  name: 'ReindexMode',
  description: 'IN_PLACE: re-embed the active store where it is. BLUE_GREEN: build a new embedding generation with the next model (EMBEDDINGS_NEXT_*) beside it; the app searches the old one and writes both until switchModel.',
});
registerEnumType(GenerationStateEnum, { name: 'EmbeddingGenerationState', description: 'ACTIVE: searched. BUILDING: being backfilled. PREVIOUS: replaced, kept (and written) for rollback. DROPPED: removed.' });
registerEnumType(MigrationKindEnum, { name: 'MigrationKind' });
registerEnumType(DatasetKindEnum, { name: 'DatasetKind' });
registerEnumType(ConflictPolicyEnum, { name: 'ConflictPolicy' });
registerEnumType(JobStatusEnum, {
  name: 'MigrationStatus',
  description:
    'SUCCEEDED, SUCCEEDED_WITH_REJECTS and CUT_OVER only after verification passed; a failed verification is FAILED (errorCode VERIFICATION_FAILED). CUT_OVER: a live job verified the target against the frozen source, which stays frozen (unfreezeSource rolls back to it).',
});

function literal(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value)]));
    case Kind.LIST:
      return ast.values.map(literal);
    default:
      return null;
  }
}

/** Arbitrary JSON (the job's plan: counts, sides, conflicts, estimate). */
export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Arbitrary JSON value',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: literal,
});

@ObjectType()
export class StepProgressModel {
  @Field() name: string;
  @Field(() => Int) total: number;
  @Field(() => Int) read: number;
  @Field(() => Int) written: number;
  @Field(() => Int) skipped: number;
  @Field(() => Int, { nullable: true, description: 'REINDEX: documents left alone because the store already holds their chunks exactly as the current model and chunker make them.' }) unchanged?: number;
  @Field(() => Int) errors: number;
  @Field(() => Int) ms: number;
  @Field() finished: boolean;
}

@ObjectType()
export class LiveProgressModel {
  @Field(() => Int, { description: 'Catch-up rounds before the freeze.' }) rounds: number;
  @Field(() => Int, { description: 'Changed rows copied again.' }) applied: number;
  @Field(() => Int) backlog: number;
  @Field() frozen: boolean;
  @Field(() => Int, { nullable: true, description: 'From the freeze to the verified cutover.' }) freezeMs: number | null;
  @Field(() => Int, { nullable: true }) resolvedRejects?: number;
}

@ObjectType({ description: 'A job run by queue workers (MIGRATION_QUEUE=bullmq): its partitions and who works on them.' })
export class QueueProgressModel {
  @Field(() => Int) partitions: number;
  @Field(() => Int) finished: number;
  @Field(() => Int) running: number;
  @Field(() => Int, { description: 'Attempts over all partitions: more than `partitions` once a worker died or a partition was retried.' }) attempts: number;
  @Field(() => [String], { description: 'Workers holding a partition now ("<instance>/<boot>/<pid>/...").' }) workers: string[];
}

@ObjectType()
export class MigrationProgressModel {
  @Field(() => LiveProgressModel, { nullable: true }) live?: LiveProgressModel;
  @Field(() => QueueProgressModel, { nullable: true }) queue?: QueueProgressModel;
  @Field(() => Int) total: number;
  @Field(() => Int) done: number;
  @Field(() => Float) ratePerSecond: number;
  @Field(() => Float, { nullable: true }) etaSeconds: number | null;
  @Field() phase: string;
  @Field(() => [StepProgressModel]) steps: StepProgressModel[];
}

@ObjectType()
export class TableVerificationModel {
  @Field() name: string;
  @Field(() => Int) sourceCount: number;
  @Field(() => Int) targetCount: number;
  @Field(() => String, { nullable: true }) sourceChecksum: string | null;
  @Field(() => String, { nullable: true }) targetChecksum: string | null;
  @Field(() => Boolean, { nullable: true }) checksumMatch: boolean | null;
}

@ObjectType()
export class MigrationVerificationModel {
  @Field() ok: boolean;
  @Field(() => [TableVerificationModel]) tables: TableVerificationModel[];
  @Field(() => Float, { nullable: true }) recallAt10: number | null;
  @Field(() => Float, { nullable: true, description: "The target's own user-scoped top-10 for the sampled vectors against an exact scan of the target (what its approximate index loses)." }) indexRecallAt10?: number | null;
  @Field(() => Int, { nullable: true, description: 'Vectors in the target whose document has no row in the relational database (any fails the job); null: not checked.' }) orphans?: number | null;
  @Field(() => [String]) notes: string[];
  @Field() checkedAt: string;
}

@ObjectType()
export class BackupModel {
  @Field() step: string;
  @Field() kind: string;
  @Field() name: string;
  @Field(() => Int) rows: number;
  @Field(() => String, { nullable: true, description: 'Checksum of what was backed up; a restore is verified against it.' }) checksum?: string | null;
  @Field(() => Boolean, { nullable: true, description: 'The step was empty: restoring empties it.' }) empty?: boolean;
  @Field() createdAt: string;
}

@ObjectType('MigrationJob')
export class MigrationJobModel {
  @Field(() => ID) id: string;
  @Field() kind: string;
  @Field(() => JobStatusEnum) status: JobStatusEnum;
  @Field() source: string;
  @Field() target: string;
  @Field() dryRun: boolean;
  @Field(() => ConflictPolicyEnum) onConflict: ConflictPolicyEnum;
  @Field(() => Int) batchSize: number;
  @Field(() => JSONScalar, { nullable: true }) plan: unknown;
  @Field(() => MigrationProgressModel, { nullable: true }) progress: MigrationProgressModel | null;
  @Field(() => MigrationVerificationModel, { nullable: true }) verification: MigrationVerificationModel | null;
  @Field(() => [BackupModel]) backups: BackupModel[];
  @Field(() => String, { nullable: true }) error: string | null;
  @Field(() => String, { nullable: true }) errorCode: string | null;
  @Field(() => String, { nullable: true, description: 'The reject file (inside MIGRATION_DATA_DIR): every record set aside, with its reason.' }) rejectFile?: string | null;
  @Field(() => Date, { nullable: true }) startedAt: Date | null;
  @Field(() => Date, { nullable: true }) finishedAt: Date | null;
  @Field({ description: 'RUNNING but its process stopped: resumeMigration continues it.' }) stale: boolean;
  @Field(() => ReindexModeEnum, { nullable: true, description: 'REINDEX: IN_PLACE, or BLUE_GREEN (it builds a new embedding generation).' }) mode?: ReindexModeEnum | null;
}

@InputType()
export class StartMigrationInput {
  @Field(() => MigrationKindEnum) kind: MigrationKindEnum;
  @Field(() => String, { defaultValue: 'source', description: 'Source profile name (MIGRATION_<NAME>_* env); never a connection string.' }) source: string;
  @Field({ defaultValue: false }) dryRun: boolean;
  @Field(() => ConflictPolicyEnum, { nullable: true, description: 'Default FAIL. A BLUE_GREEN re-index writes by key beside the app: OVERWRITE, its default, is the only one it takes.' }) onConflict?: ConflictPolicyEnum;
  @Field(() => Int, { nullable: true }) batchSize?: number;
  @Field(() => Int, { nullable: true, description: 'Milliseconds to pause after each batch (0-60000, default 0): spares the app and the embedding model; queue workers pause too.' }) throttleMs?: number;
  @Field(() => [String], { nullable: true, description: 'RELATIONAL: only these tables (users, documents, or a host table by name).' }) includeTables?: string[];
  @Field(() => [String], { nullable: true, description: 'RELATIONAL: every table but these.' }) excludeTables?: string[];
  @Field({ defaultValue: false, description: 'RELATIONAL, VECTORS or FULL_STACK: a live migration (change-capture triggers on the source relational database with your consent, catch-up, a short write freeze, CUT_OVER).' }) live: boolean;
  @Field({ defaultValue: false, description: 'REINDEX: embed every document again. Without it a re-index is incremental: documents whose stored chunks already are what the current model and chunker make of them are left alone.' }) full: boolean;
  @Field(() => ReindexModeEnum, { defaultValue: ReindexModeEnum.IN_PLACE, description: 'REINDEX: IN_PLACE or BLUE_GREEN (a zero-downtime model switch).' }) mode: ReindexModeEnum;
}

@ObjectType('EmbeddingGeneration')
export class EmbeddingGenerationModel {
  @Field(() => Int) id: number;
  @Field() model: string;
  @Field(() => Int) dimensions: number;
  @Field({ description: 'The vector collection (table) holding it.' }) collection: string;
  @Field(() => GenerationStateEnum) state: GenerationStateEnum;
  @Field(() => ID, { nullable: true, description: 'The BLUE_GREEN re-index that built it.' }) jobId: string | null;
  @Field() createdAt: string;
  @Field() changedAt: string;
}

@ObjectType('GenerationBackup', { description: 'The counted backup a dropped generation was written to before its collection was removed.' })
export class GenerationBackupModel {
  @Field({ description: 'NDJSON file inside MIGRATION_DATA_DIR (importData reads it back).' }) file: string;
  @Field(() => Int) records: number;
  @Field(() => String, { nullable: true }) checksum: string | null;
}

@ObjectType('DroppedGeneration')
export class DroppedGenerationModel extends EmbeddingGenerationModel {
  @Field(() => GenerationBackupModel, { nullable: true, description: 'Null when the generation held nothing.' }) backup: GenerationBackupModel | null;
}

@InputType()
export class ExportDataInput {
  @Field(() => DatasetKindEnum) kind: DatasetKindEnum;
  @Field(() => String, { nullable: true, description: 'Profile to export; default: the active providers.' }) source?: string;
  @Field({ description: 'File path inside MIGRATION_DATA_DIR.' }) path: string;
  @Field({ defaultValue: false }) overwrite: boolean;
}

@InputType()
export class ImportDataInput {
  @Field(() => DatasetKindEnum) kind: DatasetKindEnum;
  @Field({ description: 'File path inside MIGRATION_DATA_DIR.' }) path: string;
  @Field(() => ConflictPolicyEnum, { defaultValue: ConflictPolicyEnum.FAIL }) onConflict: ConflictPolicyEnum;
  @Field({ defaultValue: false }) dryRun: boolean;
}

@ObjectType({ description: 'One side of a source profile: reachable within HEALTH_TIMEOUT_MS or why not.' })
export class ProfileSideModel {
  @Field() provider: string;
  @Field() reachable: boolean;
  @Field(() => String, { nullable: true }) location: string | null;
  @Field(() => String, { nullable: true }) error: string | null;
}

@ObjectType()
export class ProfileVectorModel extends ProfileSideModel {
  @Field() collection: string;
  @Field(() => Int, { description: 'MIGRATION_<NAME>_VECTOR_DB_DIMENSIONS.' }) dimensions: number;
  @Field(() => Int, { nullable: true }) storedDimensions: number | null;
  @Field(() => String, { nullable: true }) storedModel: string | null;
  @Field(() => Int, { nullable: true }) count: number | null;
  @Field(() => String, { nullable: true, description: 'Read from a Chroma persist directory, without a server.' }) persistDir: string | null;
  @Field(() => String, { nullable: true, description: 'Why a VECTORS copy into the active store would be refused.' }) mismatch: string | null;
}

@ObjectType({ description: 'A source profile (MIGRATION_<NAME>_*), opened read-only as a job opens it.' })
export class MigrationProfileModel {
  @Field() name: string;
  @Field(() => ProfileSideModel) relational: ProfileSideModel;
  @Field(() => ProfileVectorModel) vector: ProfileVectorModel;
}
