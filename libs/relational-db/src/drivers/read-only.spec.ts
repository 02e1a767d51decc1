import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { freshDir, freshPostgres, serviceEnv, toConnection } from '../../../../test/support/services';
import { DocumentEntity, UserEntity } from '../entities';
import { createRelationalDb } from '../relational-db.factory';

/** A migration source opened read-only must come out byte for byte as it went in. */
describe('SQLite opened read-only', () => {
  let dir: ReturnType<typeof freshDir>;
  beforeEach(() => (dir = freshDir()));
  afterEach(() => dir.remove());

  /** A Switchyard database with rows, left in the given journal mode. */
  async function source(name: string, journal: 'delete' | 'wal'): Promise<string> {
    const database = dir.file(name);
    const db = createRelationalDb({ provider: 'sqlite', database, logging: false });
    await db.init();
    await db.repository(UserEntity).insert({ id: 'alice', roles: ['admin'], active: true });
    await db.close();
    const raw = new Database(database);
    raw.pragma(`journal_mode = ${journal}`);
    raw.close();
    return database;
  }

  const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  /** Bytes 18-19 of the header: 1 = rollback journal (delete, truncate, ...), 2 = WAL. */
  const journalOf = (file: string) => ({ 1: 'rollback', 2: 'wal' })[readFileSync(file)[18]];

  it('leaves a rollback-journal file as it was: same bytes, same journal mode, no file next to it', async () => {
    const database = await source('src.sqlite', 'delete');
    const before = { sha: sha(database), files: readdirSync(dir.dir) };
    expect(journalOf(database)).toBe('rollback');

    // The way a migration opens its source (job-context openRelational), and the port's own init().
    const viaDataSource = createRelationalDb({ provider: 'sqlite', database, logging: false }, { readOnly: true });
    await viaDataSource.dataSource.initialize();
    await expect(viaDataSource.pendingSchemaChanges()).resolves.toEqual([]);
    await expect(viaDataSource.repository(UserEntity).count()).resolves.toBe(1);
    await viaDataSource.close();
    const viaInit = createRelationalDb({ provider: 'sqlite', database, logging: false }, { readOnly: true });
    await viaInit.init();
    await expect(viaInit.repository(DocumentEntity).count()).resolves.toBe(0);
    await expect(viaInit.identity()).resolves.toMatch(/^sqlite:\d+:\d+$/);
    await viaInit.close();

    expect(journalOf(database)).toBe('rollback');
    expect({ sha: sha(database), files: readdirSync(dir.dir) }).toEqual(before);
  });

  it('leaves a WAL file as it was (SQLite may add its -shm/-wal coordination files, never data)', async () => {
    const database = await source('wal.sqlite', 'wal');
    const before = sha(database);
    const db = createRelationalDb({ provider: 'sqlite', database, logging: false }, { readOnly: true });
    await db.init();
    await expect(db.repository(UserEntity).count()).resolves.toBe(1);
    await db.close();
    expect(journalOf(database)).toBe('wal');
    expect(sha(database)).toBe(before);
  });

  it('refuses a missing file and creates nothing, neither the file nor its folder', async () => {
    const inDir = dir.file('absent.sqlite');
    const inNewDir = dir.file('no/such/dir/absent.sqlite');
    for (const database of [inDir, inNewDir]) {
      await expect(createRelationalDb({ provider: 'sqlite', database, logging: false }, { readOnly: true }).init()).rejects.toMatchObject({
        code: 'PROVIDER_UNAVAILABLE',
        message: expect.stringContaining(database),
      });
      // better-sqlite3's error may come from another test file's realm: match its message, not its class.
      await expect(createRelationalDb({ provider: 'sqlite', database, logging: false }, { readOnly: true }).dataSource.initialize()).rejects.toMatchObject({
        message: expect.stringMatching(/unable to open database file|directory does not exist/),
      });
    }
    expect(readdirSync(dir.dir)).toEqual([]);
    expect(existsSync(dir.file('no'))).toBe(false);
  });

  it('refuses an in-memory database (read-only, it could only be empty)', () => {
    expect(() => createRelationalDb({ provider: 'sqlite', database: ':memory:', logging: false }, { readOnly: true })).toThrow(
      expect.objectContaining({ code: 'BAD_INPUT' }),
    );
  });
});

describe('PostgreSQL opened read-only by a role that may only read', () => {
  const role = `sy_reader_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let pg: Awaited<ReturnType<typeof freshPostgres>>;
  let admin: DataSource;

  beforeAll(async () => {
    pg = await freshPostgres('ro');
    const owner = createRelationalDb({ provider: 'postgres', logging: false, ...pg.connection });
    await owner.init();
    await owner.repository(UserEntity).insert({ id: 'alice', roles: null, active: true });
    await owner.close();
    admin = new DataSource({ type: 'postgres', ...pg.connection, ssl: false });
    await admin.initialize();
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await admin.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    // A hardened server: pg_control_system() is not for everyone (this database only).
    await admin.query('REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC');
  });
  afterAll(async () => {
    await admin?.destroy();
    await pg?.drop();
    const server = new DataSource({ type: 'postgres', ...toConnection(serviceEnv('TEST_DATABASE_URL')), ssl: false });
    await server.initialize();
    await server.query(`DROP ROLE IF EXISTS ${role}`);
    await server.destroy();
  });

  const reader = (host: string) => createRelationalDb({ provider: 'postgres', logging: false, ...pg.connection, host, username: role, password }, { readOnly: true });

  it('opens, checks the schema and reads without needing any write; identity falls back to the server start', async () => {
    const a = reader('127.0.0.1');
    const b = reader('localhost');
    await a.init();
    await b.init();
    try {
      await expect(a.pendingSchemaChanges()).resolves.toEqual([]);
      await expect(a.repository(UserEntity).count()).resolves.toBe(1);
      await expect(a.repository(UserEntity).insert({ id: 'bob', roles: null, active: true })).rejects.toThrow(/read-only transaction/);
      const id = await a.identity();
      expect(id).toMatch(/^postgres:started-\d+-port-\d+(-.*)?:\d+:public$/);
      await expect(b.identity()).resolves.toBe(id);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
