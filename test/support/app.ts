import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { loadConfig, SwitchyardConfig } from '@switchyard/core';
import { FakeOllama, startFakeOllama } from '@switchyard/llm';
import request from 'supertest';
import { AppModule } from '../../apps/api/src/app.module';
import { mintToken } from '../../apps/api/src/auth/auth';
import { configureApp } from '../../apps/api/src/main';
import { NestExpressApplication } from '@nestjs/platform-express';
import { freshDir, freshPostgres, serviceEnv } from './services';

export type Stack = 'sqlite+sqlite-vec' | 'postgres+pgvector' | 'sqlite+chromadb';
export const SECRET = 'test-secret-test-secret-test-secret-1234';

export interface TestApp {
  app: INestApplication;
  config: SwitchyardConfig;
  /** The environment the config was loaded from (for a CLI or worker process on the same deployment). */
  env: Record<string, string>;
  /** Where the app listens (HTTP; the same port serves graphql-ws at /graphql). */
  url: string;
  ollama: FakeOllama;
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<{ data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }>;
  token(sub: string, roles?: string[]): string;
  /** Stops the app (files stay until close()). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** Env for a stack on the real test servers, with the generated test model and a fake Ollama. */
export async function stackEnv(stack: Stack, extra: Record<string, string> = {}) {
  const dir = freshDir('sy-app-');
  const cleanups: Array<() => Promise<void> | void> = [() => dir.remove()];
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: SECRET,
    EMBEDDINGS_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'),
    VECTOR_DB_DIMENSIONS: '32',
    EMBEDDINGS_CHUNK_SIZE: '200',
    EMBEDDINGS_CHUNK_OVERLAP: '40',
    KNOWLEDGE_MAX_DOCUMENT_BYTES: '200000',
    MIGRATION_DATA_DIR: dir.file('migrations'),
  };
  if (stack === 'postgres+pgvector') {
    const pg = await freshPostgres('app');
    cleanups.push(pg.drop);
    Object.assign(env, { RELATIONAL_DB_PROVIDER: 'postgres', RELATIONAL_DB_URL: pg.url, VECTOR_DB_PROVIDER: 'pgvector' });
  } else {
    Object.assign(env, { RELATIONAL_DB_PROVIDER: 'sqlite', RELATIONAL_DB_DATABASE: dir.file('app.sqlite') });
    if (stack === 'sqlite+chromadb') {
      Object.assign(env, { VECTOR_DB_PROVIDER: 'chromadb', VECTOR_DB_CHROMA_URL: serviceEnv('TEST_CHROMA_URL'), VECTOR_DB_COLLECTION: `e2e_${Math.random().toString(36).slice(2, 10)}` });
    } else env.VECTOR_DB_PROVIDER = 'sqlite-vec';
  }
  return { env: { ...env, ...extra }, dir, cleanup: async () => { for (const c of cleanups.reverse()) await c(); } };
}

/**
 * The env of a source profile named `name` pointing at a dev app's SQLite + Chroma stack (the seed guide's
 * "the old stack is the source"): MIGRATION_<NAME>_* for its relational file and its Chroma collection.
 */
export function sqliteChromaProfile(dev: TestApp, collection: string, name = 'SOURCE'): Record<string, string> {
  const p = `MIGRATION_${name}_`;
  return {
    [`${p}RELATIONAL_DB_PROVIDER`]: 'sqlite',
    [`${p}RELATIONAL_DB_DATABASE`]: dev.config.relational.provider === 'sqlite' ? dev.config.relational.database : '',
    [`${p}VECTOR_DB_PROVIDER`]: 'chromadb',
    [`${p}VECTOR_DB_CHROMA_URL`]: serviceEnv('TEST_CHROMA_URL'),
    [`${p}VECTOR_DB_COLLECTION`]: collection,
    [`${p}VECTOR_DB_DIMENSIONS`]: '32',
  };
}

/** Boots the real app (AppModule) on a stack and returns a GraphQL client over HTTP. */
export async function startApp(stack: Stack, extra: Record<string, string> = {}): Promise<TestApp> {
  const ollama = await startFakeOllama({ models: ['llama3.2:latest'] });
  const { env, cleanup } = await stackEnv(stack, { LLM_URL: ollama.url, LLM_MODEL: 'llama3.2', ...extra });
  const config = loadConfig(env);
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const app = configureApp(moduleRef.createNestApplication<NestExpressApplication>({ logger: ['error'], bodyParser: false }), config);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  let stopped = false;
  const stop = async () => {
    if (!stopped) await app.close();
    stopped = true;
  };
  return {
    app,
    config,
    env,
    url: `http://127.0.0.1:${address.port}`,
    ollama,
    token: (sub, roles = []) => mintToken(SECRET, sub, roles),
    async gql(query, variables = {}, token = null) {
      const req = request(app.getHttpServer()).post('/graphql').set('content-type', 'application/json');
      if (token) req.set('authorization', `Bearer ${token}`);
      const res = await req.send({ query, variables });
      return res.body;
    },
    stop,
    async close() {
      try {
        await stop();
      } finally {
        await ollama.close();
        await cleanup();
      }
    },
  };
}
