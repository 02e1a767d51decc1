export * from './errors';
export * from './identifiers';
export * from './sql-session';
export * from './config/config';
export * from './config/config.module';
export * from './module-definition';
