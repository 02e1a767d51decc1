import { BadInputError, RelationalDbConfig } from '@switchyard/core';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { RelationalDb, RelationalDbOptions } from '../relational-db.port';

type SqliteConfig = Extract<RelationalDbConfig, { provider: 'sqlite' }>;

/**
 * SQLite through better-sqlite3: a single file, WAL mode, for development and embedded use.
 *
 * Instants: TypeORM stores a Date as UTC text `YYYY-MM-DD HH:MM:SS.SSS` (milliseconds, no zone
 * designator) and reads it back as UTC, so the process time zone never enters. Stamps SQLite makes
 * itself (column defaults, UpdateDateColumn on UPDATE) are UTC too, with whole seconds.
 */
export class SqliteRelationalDb extends RelationalDb {
  readonly provider = 'sqlite' as const;
  readonly label: string;
  private readonly memoryId = randomUUID();

  constructor(
    private readonly config: SqliteConfig,
    options: RelationalDbOptions = {},
  ) {
    const readOnly = options.readOnly ?? false;
    if (readOnly && config.database === ':memory:') throw new BadInputError('database', 'an in-memory SQLite database cannot be opened read-only (it would be empty); name a file');
    super(
      {
        type: 'better-sqlite3',
        database: config.database,
        // Read-only: opened with SQLITE_OPEN_READONLY, so nothing (not even the journal mode, which
        // enableWAL would switch, a write to the file header) changes; a missing file is an error,
        // never created. The pragmas below only set this connection's state.
        readonly: readOnly,
        fileMustExist: readOnly,
        enableWAL: !readOnly && config.database !== ':memory:',
        logging: config.logging,
        prepareDatabase: (db: { pragma(s: string): unknown }) => {
          db.pragma('busy_timeout = 10000');
          db.pragma('foreign_keys = ON');
        },
      },
      { readOnly },
    );
    // TypeORM creates the file's folder before opening it; a read-only open must not create anything.
    if (readOnly) (this.dataSource.driver as unknown as { createDatabaseDirectory(dir: string): Promise<void> }).createDatabaseDirectory = async () => undefined;
    this.label = config.database === ':memory:' ? 'sqlite::memory:' : `sqlite:${path.resolve(config.database)}`;
  }

  protected override async beforeInit(): Promise<void> {
    if (this.config.database !== ':memory:' && !this.readOnly) await mkdir(path.dirname(path.resolve(this.config.database)), { recursive: true });
  }

  /**
   * `sqlite:<device>:<inode>` of the file itself (stat follows symlinks, and a hard link is the same
   * inode), so every path to one file gives one identity. An in-memory database is its own store.
   */
  async identity(): Promise<string> {
    if (this.config.database === ':memory:') return `sqlite:memory:${this.memoryId}`;
    const st = statSync(this.config.database, { bigint: true });
    return `sqlite:${st.dev}:${st.ino}`;
  }
}
