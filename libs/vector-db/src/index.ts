export * from './vector-db.types';
export * from './vector-db.port';
export * from './vector-db.factory';
export * from './vector-db.module';
export * from './vector-db.module-definition';
export * from './drivers/sqlite-vec.driver';
export * from './drivers/pgvector.driver';
export * from './drivers/chromadb.driver';
