import { symlinkSync } from 'node:fs';
import { PostgresRelationalDb } from './postgres.driver';
import { SqliteRelationalDb } from './sqlite.driver';
import { runRelationalDbContract } from '../relational-db.contract';
import { createRelationalDb } from '../relational-db.factory';
import { freshDir, freshPostgres } from '../../../../test/support/services';

runRelationalDbContract('sqlite', async () => {
  const dir = freshDir();
  const config = { provider: 'sqlite' as const, database: dir.file('nested/dir/app.sqlite'), logging: false };
  return {
    db: new SqliteRelationalDb(config),
    reopen: (options) => new SqliteRelationalDb(config, options),
    alias: () => {
      const link = dir.file('alias.sqlite');
      symlinkSync(config.database, link);
      return new SqliteRelationalDb({ ...config, database: link }, { readOnly: true });
    },
    other: async () => ({ db: new SqliteRelationalDb({ ...config, database: dir.file('other.sqlite') }), cleanup: async () => undefined }),
    cleanup: async () => dir.remove(),
  };
});

runRelationalDbContract('postgres', async () => {
  const pg = await freshPostgres('rel');
  const config = { provider: 'postgres' as const, logging: false, ...pg.connection };
  // The same server under its other loopback name.
  const host = { '127.0.0.1': 'localhost', localhost: '127.0.0.1' }[config.host] ?? config.host;
  return {
    db: new PostgresRelationalDb(config),
    reopen: (options) => new PostgresRelationalDb(config, options),
    alias: () => new PostgresRelationalDb({ ...config, host }),
    other: async () => {
      const other = await freshPostgres('rel2');
      return { db: new PostgresRelationalDb({ ...config, ...other.connection }), cleanup: other.drop };
    },
    cleanup: pg.drop,
  };
});

describe('RelationalDb errors', () => {
  it('reports an unreachable PostgreSQL as PROVIDER_UNAVAILABLE naming where it looked', async () => {
    const db = createRelationalDb({ provider: 'postgres', host: '127.0.0.1', port: 1, database: 'nope', ssl: false, logging: false });
    await expect(db.init()).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1/nope') });
  });
});
