import { randomBytes } from 'node:crypto';
import { runVectorDbContract } from '../vector-db.contract';
import { createVectorDb } from '../vector-db.factory';
import { freshDir, freshPostgres, serviceEnv } from '../../../../test/support/services';

runVectorDbContract('sqlite-vec', async () => {
  const dir = freshDir();
  return {
    open: (dimensions, model, collection = 'vector_embeddings') => createVectorDb({ provider: 'sqlite-vec', path: dir.file('vectors.sqlite'), dimensions, collection }, model),
    cleanup: async () => dir.remove(),
  };
});

runVectorDbContract('pgvector', async () => {
  const pg = await freshPostgres('vec');
  return {
    open: (dimensions, model, collection = 'vector_embeddings') => createVectorDb({ provider: 'pgvector', connection: pg.connection, dimensions, collection }, model),
    cleanup: pg.drop,
  };
});

runVectorDbContract('chromadb', async () => {
  const collection = `contract_${randomBytes(4).toString('hex')}`;
  const url = serviceEnv('TEST_CHROMA_URL');
  return {
    open: (dimensions, model, name = collection) => createVectorDb({ provider: 'chromadb', url, dimensions, collection: name }, model),
    cleanup: async () => {
      const db = createVectorDb({ provider: 'chromadb', url, dimensions: 1, collection }, null);
      await db.init();
      await db.reset();
    },
  };
});

describe('VectorDb outages', () => {
  it.each([
    ['chromadb', () => createVectorDb({ provider: 'chromadb', url: 'http://127.0.0.1:1', dimensions: 4, collection: 'c' }, 'm')],
    ['pgvector', () => createVectorDb({ provider: 'pgvector', connection: { host: '127.0.0.1', port: 1, database: 'x', ssl: false }, dimensions: 4, collection: 'c' }, 'm')],
  ])('%s: an unreachable server is PROVIDER_UNAVAILABLE naming where', async (_name, make) => {
    await expect(make().init()).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1') });
  });
});
