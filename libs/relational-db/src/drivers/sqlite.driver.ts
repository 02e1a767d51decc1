import { RelationalDbConfig } from '@switchyard/core';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { RelationalDb } from '../relational-db.port';

type SqliteConfig = Extract<RelationalDbConfig, { provider: 'sqlite' }>;

/** SQLite through better-sqlite3: a single file, WAL mode, for development and embedded use. */
export class SqliteRelationalDb extends RelationalDb {
  readonly provider = 'sqlite' as const;
  readonly label: string;

  constructor(private readonly config: SqliteConfig) {
    super({
      type: 'better-sqlite3',
      database: config.database,
      enableWAL: config.database !== ':memory:',
      logging: config.logging,
      prepareDatabase: (db: { pragma(s: string): unknown }) => {
        db.pragma('busy_timeout = 10000');
        db.pragma('foreign_keys = ON');
      },
    });
    this.label = config.database === ':memory:' ? 'sqlite::memory:' : `sqlite:${path.resolve(config.database)}`;
  }

  protected override async beforeInit(): Promise<void> {
    if (this.config.database !== ':memory:') await mkdir(path.dirname(path.resolve(this.config.database)), { recursive: true });
  }
}
