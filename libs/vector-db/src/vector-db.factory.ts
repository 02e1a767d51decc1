import { VectorDbConfig } from '@switchyard/core';
import { ChromaPersistVectorDb } from './drivers/chroma-persist.driver';
import { ChromaVectorDb } from './drivers/chromadb.driver';
import { PgvectorVectorDb } from './drivers/pgvector.driver';
import { SqliteVecVectorDb } from './drivers/sqlite-vec.driver';
import { VectorDb } from './vector-db.port';

/**
 * Picks the driver for a validated config. `model` is the embedding model the app writes with (null
 * for a read-only migration source). Not connected yet: call init().
 */
export function createVectorDb(config: VectorDbConfig, model: string | null): VectorDb {
  switch (config.provider) {
    case 'sqlite-vec':
      return new SqliteVecVectorDb(config, model);
    case 'pgvector':
      return new PgvectorVectorDb(config, model);
    case 'chromadb':
      // A persist directory is read without a server, read-only (configuration allows it for sources only).
      return config.persistDir ? new ChromaPersistVectorDb({ ...config, persistDir: config.persistDir }) : new ChromaVectorDb(config, model);
    default: {
      const never: never = config;
      throw new Error(`unknown vector provider ${JSON.stringify(never)}`);
    }
  }
}
