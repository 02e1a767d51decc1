import { randomBytes } from 'node:crypto';
import { rmSync, symlinkSync } from 'node:fs';
import { ChromaClient } from 'chromadb';
import { runVectorDbContract } from '../vector-db.contract';
import { createVectorDb } from '../vector-db.factory';
import { freshDir, freshPostgres, serviceEnv } from '../../../../test/support/services';

runVectorDbContract('sqlite-vec', async () => {
  const dir = freshDir();
  const link = `${dir.dir}-link`;
  symlinkSync(dir.dir, link);
  const at = (file: string) => (dimensions: number, model: string | null, collection = 'vector_embeddings') =>
    createVectorDb({ provider: 'sqlite-vec', path: file, dimensions, collection }, model);
  return {
    open: at(dir.file('vectors.sqlite')),
    openAlias: at(`${link}/vectors.sqlite`),
    openElsewhere: async (dimensions, model) => at(dir.file('elsewhere.sqlite'))(dimensions, model),
    cleanup: async () => {
      rmSync(link, { force: true });
      dir.remove();
    },
  };
});

runVectorDbContract('pgvector', async () => {
  const pg = await freshPostgres('vec');
  const other: { drop(): Promise<void> }[] = [];
  const at = (connection: typeof pg.connection) => (dimensions: number, model: string | null, collection = 'vector_embeddings') =>
    createVectorDb({ provider: 'pgvector', connection, dimensions, collection }, model);
  const host = pg.connection.host === 'localhost' ? '127.0.0.1' : 'localhost';
  return {
    open: at(pg.connection),
    openAlias: at({ ...pg.connection, host }),
    openElsewhere: async (dimensions, model) => {
      const db2 = await freshPostgres('vec2');
      other.push(db2);
      return at(db2.connection)(dimensions, model);
    },
    cleanup: async () => {
      for (const o of other) await o.drop();
      await pg.drop();
    },
  };
});

runVectorDbContract('chromadb', async () => {
  const prefix = `contract_${randomBytes(4).toString('hex')}`;
  const url = serviceEnv('TEST_CHROMA_URL');
  const u = new URL(url);
  const aliasUrl = `${u.protocol}//${u.hostname === 'localhost' ? '127.0.0.1' : 'localhost'}:${u.port}`;
  const used = new Set<string>([prefix]);
  const at = (base: string) => (dimensions: number, model: string | null, name?: string) => {
    const collection = name ? `${prefix}_${name}` : prefix;
    const db = createVectorDb({ provider: 'chromadb', url: base, dimensions, collection }, model);
    used.add(collection);
    return db;
  };
  return {
    open: at(url),
    openAlias: at(aliasUrl),
    cleanup: async () => {
      const client = new ChromaClient({ host: u.hostname, port: Number(u.port) });
      for (const name of used) await client.deleteCollection({ name }).catch(() => undefined);
    },
  };
});

describe('VectorDb outages', () => {
  it.each([
    ['chromadb', () => createVectorDb({ provider: 'chromadb', url: 'http://127.0.0.1:1', dimensions: 4, collection: 'coll' }, 'm')],
    ['pgvector', () => createVectorDb({ provider: 'pgvector', connection: { host: '127.0.0.1', port: 1, database: 'x', ssl: false }, dimensions: 4, collection: 'c' }, 'm')],
  ])('%s: an unreachable server is PROVIDER_UNAVAILABLE naming where', async (_name, make) => {
    await expect(make().init()).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1') });
  });
});
