import { RelationalDbConfig } from '@switchyard/core';
import { PostgresRelationalDb } from './drivers/postgres.driver';
import { SqliteRelationalDb } from './drivers/sqlite.driver';
import { RelationalDb, RelationalDbOptions } from './relational-db.port';

/**
 * Picks the driver for a validated config. Not connected yet: call init().
 * `{ readOnly: true }` for a migration source: nothing is written, not even schema migrations.
 */
export function createRelationalDb(config: RelationalDbConfig, opened: RelationalDbOptions = {}): RelationalDb {
  const options = { ...opened, tablePrefix: opened.tablePrefix ?? config.tablePrefix };
  switch (config.provider) {
    case 'sqlite':
      return new SqliteRelationalDb(config, options);
    case 'postgres':
      return new PostgresRelationalDb(config, options);
    default: {
      const never: never = config;
      throw new Error(`unknown relational provider ${JSON.stringify(never)}`);
    }
  }
}
