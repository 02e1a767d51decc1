import { RelationalDbConfig } from '@switchyard/core';
import { PostgresRelationalDb } from './drivers/postgres.driver';
import { SqliteRelationalDb } from './drivers/sqlite.driver';
import { RelationalDb } from './relational-db.port';

/** Picks the driver for a validated config. Not connected yet: call init(). */
export function createRelationalDb(config: RelationalDbConfig): RelationalDb {
  switch (config.provider) {
    case 'sqlite':
      return new SqliteRelationalDb(config);
    case 'postgres':
      return new PostgresRelationalDb(config);
    default: {
      const never: never = config;
      throw new Error(`unknown relational provider ${JSON.stringify(never)}`);
    }
  }
}
