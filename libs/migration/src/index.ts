export * from './migration.types';
export * from './migration.service';
export * from './migration.module';
export * from './checksum';
export { resolveDataPath, ExportHeader } from './ndjson';
