export * from './embeddings.port';
export * from './embeddings.factory';
export * from './embeddings.module';
export * from './drivers/xenova.driver';
export * from './embedding-models';
