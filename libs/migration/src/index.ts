export * from './migration.types';
export * from './migration.service';
export * from './migration.module';
export * from './checksum';
export { resolveDataPath, ExportHeader } from './ndjson';
export * from './migration-worker.module';
export type { WorkerHandle } from './queue/bullmq-queue';
export { ModelSwitch, DroppedGeneration, GenerationBackup } from './model-switch';
