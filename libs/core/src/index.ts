export * from './errors';
export * from './identifiers';
export * from './config/config';
export * from './config/config.module';
export * from './module-definition';
