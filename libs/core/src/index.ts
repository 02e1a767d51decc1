export * from './errors';
export * from './identifiers';
export * from './sql-session';
export * from './text-rules';
export * from './telemetry';
export * from './config/config';
export * from './config/config.module';
export * from './module-definition';
