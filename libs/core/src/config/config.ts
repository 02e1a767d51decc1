import * as path from 'node:path';
import { z } from 'zod';
import { SwitchyardError } from '../errors';
import { bool, int, oneOf, str, url } from './env.schema';

export const RELATIONAL_PROVIDERS = ['sqlite', 'postgres'] as const;
export const VECTOR_PROVIDERS = ['sqlite-vec', 'pgvector', 'chromadb'] as const;
export const EMBEDDINGS_PROVIDERS = ['xenova'] as const;
export const LLM_PROVIDERS = ['ollama'] as const;

export type RelationalProvider = (typeof RELATIONAL_PROVIDERS)[number];
export type VectorProvider = (typeof VECTOR_PROVIDERS)[number];

export interface PostgresConnection {
  host: string;
  port: number;
  database: string;
  username?: string;
  password?: string;
  ssl: boolean;
}

/**
 * tablePrefix: the prefix of Switchyard's own tables (default DEFAULT_TABLE_PREFIX), so they never
 * collide with a host app's tables in the same database (RELATIONAL_DB_TABLE_PREFIX).
 */
export type RelationalDbConfig =
  | { provider: 'sqlite'; database: string; logging: boolean; tablePrefix?: string; /** busy wait of a statement on a locked file (RELATIONAL_DB_TIMEOUT_MS, default 10 s) */ timeoutMs?: number }
  | ({ provider: 'postgres'; logging: boolean; tablePrefix?: string; timeoutMs?: number } & PostgresConnection);

/** pgvector's HNSW search breadth unless configured (VECTOR_DB_HNSW_EF_SEARCH). */
export const DEFAULT_HNSW_EF_SEARCH = 100;

/** The longest one provider call may wait for an answer (RELATIONAL_DB_TIMEOUT_MS / VECTOR_DB_TIMEOUT_MS) unless configured. */
export const DEFAULT_PROVIDER_TIMEOUT_MS = 30_000;
/** SQLite files: how long a statement waits for a file another connection writes (busy_timeout), unless *_DB_TIMEOUT_MS says. */
export const SQLITE_BUSY_MS = 10_000;

/** Prefix of Switchyard's own tables when RELATIONAL_DB_TABLE_PREFIX is not set. */
export const DEFAULT_TABLE_PREFIX = 'switchyard_';
/** What RELATIONAL_DB_TABLE_PREFIX may be: lower-case letters, digits and _, starting with a letter, at most 24 characters (or empty). */
export const TABLE_PREFIX_PATTERN = /^(?:[a-z][a-z0-9_]{0,23})?$/;

export type VectorDbConfig =
  | { provider: 'sqlite-vec'; path: string; dimensions: number; collection: string; /** busy wait on a locked file (VECTOR_DB_TIMEOUT_MS, default 10 s) */ timeoutMs?: number }
  | {
      provider: 'pgvector';
      connection: PostgresConnection;
      dimensions: number;
      collection: string;
      timeoutMs?: number;
      /** HNSW candidate list per query (VECTOR_DB_HNSW_EF_SEARCH, default 100; at least 4 k for a query of k). */
      efSearch?: number;
    }
  | {
      provider: 'chromadb';
      url: string;
      dimensions: number;
      collection: string;
      timeoutMs?: number;
      /**
       * A migration source read from a Chroma persist directory instead of the server
       * (MIGRATION_<NAME>_VECTOR_DB_CHROMA_PERSIST_DIR): read-only, no server needed.
       */
      persistDir?: string;
    };

export interface EmbeddingsConfig {
  provider: 'xenova';
  model: string;
  modelPath?: string;
  cacheDir?: string;
  allowRemote: boolean;
  batchSize: number;
  chunkSize: number;
  chunkOverlap: number;
  /**
   * A second model loaded beside this one for a zero-downtime model switch (EMBEDDINGS_NEXT_XENOVA_MODEL /
   * EMBEDDINGS_NEXT_XENOVA_MODEL_PATH): a BLUE_GREEN re-index builds its generation, and every instance
   * writes both while the switch lasts. Same provider, batch size and cache as this one.
   */
  next?: { model: string; modelPath?: string };
}

export interface LlmConfig {
  provider: 'ollama';
  url: string;
  model: string;
  timeoutMs: number;
}

/** A named pair of data providers: the active one (from RELATIONAL_DB_* / VECTOR_DB_*) or a migration source. */
export interface ProviderProfile {
  name: string;
  relational: RelationalDbConfig;
  vector: VectorDbConfig;
}

export const MIGRATION_QUEUES = ['inprocess', 'bullmq'] as const;

/**
 * Where migration jobs run (MIGRATION_QUEUE): `inprocess` (default) in the process that starts them;
 * `bullmq`: VECTORS jobs split into key-range partitions run by `switchyard worker` processes through
 * BullMQ on Redis (REDIS_URL). partitionSize: records per partition (MIGRATION_PARTITION_SIZE);
 * concurrency: partitions one worker runs at once (MIGRATION_WORKER_CONCURRENCY); rateLimit: records per
 * second over all workers, 0 for none (MIGRATION_RATE_LIMIT); lockMs: how long a worker that stops
 * answering keeps its partition before another worker retries it (MIGRATION_QUEUE_LOCK_MS); prefix: the
 * Redis key prefix of the queues (MIGRATION_QUEUE_PREFIX).
 */
export interface MigrationQueueConfig {
  kind: (typeof MIGRATION_QUEUES)[number];
  redisUrl?: string;
  prefix: string;
  partitionSize: number;
  concurrency: number;
  rateLimit: number;
  lockMs: number;
  attempts: number;
}

export interface SwitchyardConfig {
  env: 'development' | 'production' | 'test';
  port: number;
  /** HOST: the address the server listens on (default 127.0.0.1, and 0.0.0.0 in production, where a container's port is published). */
  host: string;
  relational: RelationalDbConfig;
  vector: VectorDbConfig;
  embeddings: EmbeddingsConfig;
  llm: LlmConfig;
  /** maxTokenSeconds: the longest lifetime (exp - iat) a token may have (AUTH_MAX_TOKEN_SECONDS); a token without exp is refused. */
  auth: {
    jwtSecret: string;
    insecureDefault: boolean;
    maxTokenSeconds: number;
    /**
     * An identity provider's signing keys (AUTH_JWKS_URL): tokens are then verified with them (RS256,
     * PS256, ES256, EdDSA), not with AUTH_JWT_SECRET; AUTH_ISSUER / AUTH_AUDIENCE are checked when set,
     * roles are read from AUTH_ROLES_CLAIM (a dotted path, default `roles`).
     */
    jwks?: { url: string; issuer?: string; audience?: string };
    rolesClaim: string;
  };
  /** generationPollMs: how often an instance reads which embedding generation is active (KNOWLEDGE_GENERATION_POLL_MS, default 1 s). */
  knowledge: { maxDocumentBytes: number; maxSearchLimit: number; minScore: number; answerContextChunks: number; generationPollMs: number };
  /** instanceId: names this app instance in migration job owners (MIGRATION_INSTANCE_ID; default: the host name). */
  migration: { dataDir: string; batchSize: number; profiles: Record<string, ProviderProfile>; instanceId?: string; queue: MigrationQueueConfig };
  /** timeoutMs: how long readiness (GET /health/ready) waits for each provider's answer (HEALTH_TIMEOUT_MS). */
  health: { timeoutMs: number };
  /**
   * Limits of one GraphQL operation, over HTTP and graphql-ws (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_ALIASES,
   * GRAPHQL_MAX_COST, GRAPHQL_MAX_PAGE: the most documents one `documents` field returns).
   */
  graphql: { maxDepth: number; maxAliases: number; maxCost: number; maxPage: number };
  /** level: LOG_LEVEL (default info; warn under NODE_ENV=test). */
  log: { level: LogLevel };
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const DEV_SECRET = 'switchyard-dev-secret-do-not-use-in-production';

type Env = Record<string, string | undefined>;

class Issues {
  readonly list: string[] = [];
  parse<T extends z.ZodType>(env: Env, key: string, schema: T): z.output<T> {
    const r = schema.safeParse(env[key] === undefined ? undefined : String(env[key]).trim());
    if (r.success) return r.data;
    for (const i of r.error.issues) this.list.push(`${key}: ${i.message}`);
    return undefined as z.output<T>;
  }
  require(env: Env, key: string, why: string): string {
    const v = env[key]?.trim();
    if (!v) this.list.push(`${key}: is required ${why}`);
    return v ?? '';
  }
}

function parsePostgres(env: Env, p: string, issues: Issues): PostgresConnection {
  const why = `when ${p}RELATIONAL_DB_PROVIDER=postgres`;
  const fromUrl = issues.parse(env, `${p}RELATIONAL_DB_URL`, url());
  if (fromUrl) {
    const u = new URL(fromUrl);
    return {
      host: u.hostname,
      port: u.port ? Number(u.port) : 5432,
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      ssl: issues.parse(env, `${p}RELATIONAL_DB_SSL`, bool(u.searchParams.get('sslmode') === 'require')),
    };
  }
  return {
    host: issues.require(env, `${p}RELATIONAL_DB_HOST`, `${why} (or set ${p}RELATIONAL_DB_URL)`),
    port: issues.parse(env, `${p}RELATIONAL_DB_PORT`, int(5432, { max: 65535, what: 'a TCP port number' })),
    database: issues.require(env, `${p}RELATIONAL_DB_DATABASE`, why),
    username: issues.parse(env, `${p}RELATIONAL_DB_USERNAME`, str()),
    password: issues.parse(env, `${p}RELATIONAL_DB_PASSWORD`, str()),
    ssl: issues.parse(env, `${p}RELATIONAL_DB_SSL`, bool(false)),
  };
}

/** Parses one profile from env vars with the given prefix ('' for the active providers). */
function parseProfile(env: Env, name: string, p: string, issues: Issues, defaults: boolean): ProviderProfile {
  const rProvider = issues.parse(
    env,
    `${p}RELATIONAL_DB_PROVIDER`,
    defaults ? oneOf(RELATIONAL_PROVIDERS, 'sqlite') : oneOf(RELATIONAL_PROVIDERS),
  ) as RelationalProvider;
  const logging = issues.parse(env, `${p}RELATIONAL_DB_LOGGING`, bool(false));
  const tablePrefix = issues.parse(env, `${p}RELATIONAL_DB_TABLE_PREFIX`, str(DEFAULT_TABLE_PREFIX)) as string;
  if (!TABLE_PREFIX_PATTERN.test(tablePrefix)) {
    issues.list.push(`${p}RELATIONAL_DB_TABLE_PREFIX: got ${JSON.stringify(tablePrefix)}; allowed: lower-case letters, digits and _, starting with a letter, at most 24 characters (default ${DEFAULT_TABLE_PREFIX})`);
  }
  // SQLite files: the busy wait on a file another connection is writing (10 s unless set).
  const timeout = (what: 'RELATIONAL' | 'VECTOR', fallback = DEFAULT_PROVIDER_TIMEOUT_MS) =>
    issues.parse(env, `${p}${what}_DB_TIMEOUT_MS`, int(fallback, { min: 100, max: 3_600_000, what: 'milliseconds from 100 to 3600000' })) as number;
  let relational: RelationalDbConfig;
  if (rProvider === 'postgres') {
    relational = { provider: 'postgres', logging, tablePrefix, timeoutMs: timeout('RELATIONAL'), ...parsePostgres(env, p, issues) };
  } else {
    const database = issues.parse(env, `${p}RELATIONAL_DB_DATABASE`, str(defaults ? './data/switchyard.sqlite' : undefined));
    if (!database && !defaults) issues.list.push(`${p}RELATIONAL_DB_DATABASE: is required (the SQLite file path)`);
    relational = { provider: 'sqlite', database: database ?? '', logging, tablePrefix, timeoutMs: timeout('RELATIONAL', SQLITE_BUSY_MS) };
  }

  const vProvider = issues.parse(
    env,
    `${p}VECTOR_DB_PROVIDER`,
    defaults ? oneOf(VECTOR_PROVIDERS, 'sqlite-vec') : oneOf(VECTOR_PROVIDERS),
  ) as VectorProvider;
  const dimensions = issues.parse(env, `${p}VECTOR_DB_DIMENSIONS`, int(defaults ? 384 : undefined, { max: 16000 }));
  const collection = issues.parse(env, `${p}VECTOR_DB_COLLECTION`, str('switchyard_embeddings')) as string;
  if (collection && !/^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/.test(collection)) {
    issues.list.push(`${p}VECTOR_DB_COLLECTION: got ${JSON.stringify(collection)}; allowed: letters, digits and _, starting with a letter or _ (max 63)`);
  }
  let vector: VectorDbConfig;
  if (vProvider !== 'chromadb' && env[`${p}VECTOR_DB_CHROMA_PERSIST_DIR`]?.trim()) {
    issues.list.push(`${p}VECTOR_DB_CHROMA_PERSIST_DIR: is read only with ${p}VECTOR_DB_PROVIDER=chromadb (got ${vProvider}); remove it or set the provider`);
  }
  switch (vProvider) {
    case 'pgvector':
      if (relational.provider !== 'postgres') {
        issues.list.push(
          `${p}VECTOR_DB_PROVIDER: pgvector reuses the PostgreSQL connection of ${p}RELATIONAL_DB_*; set ${p}RELATIONAL_DB_PROVIDER=postgres (allowed with ${p}RELATIONAL_DB_PROVIDER=sqlite: sqlite-vec, chromadb)`,
        );
      }
      vector = {
        provider: 'pgvector',
        connection: relational as PostgresConnection,
        dimensions,
        collection,
        timeoutMs: timeout('VECTOR'),
        efSearch: issues.parse(env, `${p}VECTOR_DB_HNSW_EF_SEARCH`, int(DEFAULT_HNSW_EF_SEARCH, { min: 10, max: 1000, what: 'an HNSW candidate list size from 10 to 1000' })) as number,
      };
      break;
    case 'chromadb':
      vector = {
        provider: 'chromadb',
        url: issues.parse(env, `${p}VECTOR_DB_CHROMA_URL`, url('http://localhost:8000')) as string,
        dimensions,
        collection,
        timeoutMs: timeout('VECTOR'),
      };
      {
        const persistDir = issues.parse(env, `${p}VECTOR_DB_CHROMA_PERSIST_DIR`, str(undefined)) as string | undefined;
        if (persistDir && defaults) {
          issues.list.push(`${p}VECTOR_DB_CHROMA_PERSIST_DIR: only a migration source is read from a persist directory (MIGRATION_<NAME>_VECTOR_DB_CHROMA_PERSIST_DIR); the app reads and writes Chroma through its server (VECTOR_DB_CHROMA_URL)`);
        } else if (persistDir) vector.persistDir = persistDir;
      }
      break;
    case 'sqlite-vec':
    default: {
      const fallback = relational.provider === 'sqlite' ? relational.database : './data/switchyard-vectors.sqlite';
      vector = {
        provider: 'sqlite-vec',
        path: issues.parse(env, `${p}VECTOR_DB_SQLITE_PATH`, str(fallback)) as string,
        dimensions,
        collection,
        timeoutMs: timeout('VECTOR', SQLITE_BUSY_MS),
      };
    }
  }
  return { name, relational, vector };
}

function parseQueue(env: Env, issues: Issues): MigrationQueueConfig {
  const kind = issues.parse(env, 'MIGRATION_QUEUE', oneOf(MIGRATION_QUEUES, 'inprocess')) as MigrationQueueConfig['kind'];
  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) issues.list.push(`REDIS_URL: got ${JSON.stringify(env.REDIS_URL)}; allowed: a redis:// or rediss:// URL such as redis://127.0.0.1:6379`);
  if (kind === 'bullmq' && !redisUrl) issues.list.push('REDIS_URL: is required with MIGRATION_QUEUE=bullmq; allowed: a redis:// or rediss:// URL such as redis://127.0.0.1:6379');
  const prefix = issues.parse(env, 'MIGRATION_QUEUE_PREFIX', str('switchyard')) as string;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) issues.list.push(`MIGRATION_QUEUE_PREFIX: got ${JSON.stringify(prefix)}; allowed: 1 to 64 letters, digits, '_', '.', '-'`);
  return {
    kind,
    redisUrl,
    prefix,
    partitionSize: issues.parse(env, 'MIGRATION_PARTITION_SIZE', int(10_000, { min: 1, max: 10_000_000 })),
    concurrency: issues.parse(env, 'MIGRATION_WORKER_CONCURRENCY', int(1, { min: 1, max: 64 })),
    rateLimit: issues.parse(env, 'MIGRATION_RATE_LIMIT', int(0, { min: 0, max: 100_000_000, what: 'records per second, 0 for no limit' })),
    lockMs: issues.parse(env, 'MIGRATION_QUEUE_LOCK_MS', int(30_000, { min: 1000, max: 3_600_000, what: 'a number of milliseconds' })),
    attempts: issues.parse(env, 'MIGRATION_QUEUE_ATTEMPTS', int(5, { min: 1, max: 100 })),
  };
}

/** Profiles other than the active one: MIGRATION_<NAME>_RELATIONAL_DB_PROVIDER / MIGRATION_<NAME>_VECTOR_DB_PROVIDER. */
function parseMigrationProfiles(env: Env, issues: Issues): Record<string, ProviderProfile> {
  const names = new Set<string>();
  for (const key of Object.keys(env)) {
    const m = /^MIGRATION_([A-Z0-9]+(?:_[A-Z0-9]+)*?)_(RELATIONAL|VECTOR)_DB_PROVIDER$/.exec(key);
    if (m) names.add(m[1]);
  }
  const profiles: Record<string, ProviderProfile> = {};
  for (const upper of names) {
    const name = upper.toLowerCase();
    const p = `MIGRATION_${upper}_`;
    // A profile may name only one side; the other side then defaults to the same kind as active.
    const sub: Env = { ...env };
    if (!env[`${p}RELATIONAL_DB_PROVIDER`]) sub[`${p}RELATIONAL_DB_PROVIDER`] = env.RELATIONAL_DB_PROVIDER ?? 'sqlite';
    if (!env[`${p}VECTOR_DB_PROVIDER`]) sub[`${p}VECTOR_DB_PROVIDER`] = env.VECTOR_DB_PROVIDER ?? 'sqlite-vec';
    if (!env[`${p}VECTOR_DB_DIMENSIONS`]) sub[`${p}VECTOR_DB_DIMENSIONS`] = env.VECTOR_DB_DIMENSIONS ?? '384';
    if (sub[`${p}RELATIONAL_DB_PROVIDER`] === 'sqlite' && !env[`${p}RELATIONAL_DB_DATABASE`]) {
      sub[`${p}RELATIONAL_DB_DATABASE`] = env.RELATIONAL_DB_DATABASE ?? './data/switchyard.sqlite';
    }
    profiles[name] = parseProfile(sub, name, p, issues, false);
  }
  return profiles;
}

export class ConfigError extends SwitchyardError {
  constructor(readonly issues: string[]) {
    super('CONFIG_INVALID', `Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`, { issues });
    this.name = 'ConfigError';
  }
}

/** Validates env once into one typed object. Throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): SwitchyardConfig {
  const issues = new Issues();
  const nodeEnv = issues.parse(env, 'NODE_ENV', oneOf(['development', 'production', 'test'] as const, 'development'));
  const active = parseProfile(env, 'active', '', issues, true);
  const modelPath = issues.parse(env, 'EMBEDDINGS_XENOVA_MODEL_PATH', str());
  const chunkSize = issues.parse(env, 'EMBEDDINGS_CHUNK_SIZE', int(1000, { max: 100000 }));
  const chunkOverlap = issues.parse(env, 'EMBEDDINGS_CHUNK_OVERLAP', int(200, { min: 0 }));
  if (chunkSize && chunkOverlap !== undefined && chunkOverlap >= chunkSize) {
    issues.list.push(`EMBEDDINGS_CHUNK_OVERLAP: got ${chunkOverlap}; allowed: an integer smaller than EMBEDDINGS_CHUNK_SIZE (${chunkSize})`);
  }
  const embeddings: EmbeddingsConfig = {
    provider: issues.parse(env, 'EMBEDDINGS_PROVIDER', oneOf(EMBEDDINGS_PROVIDERS, 'xenova')),
    model: issues.parse(env, 'EMBEDDINGS_XENOVA_MODEL', str('Xenova/all-MiniLM-L6-v2')) as string,
    modelPath: modelPath ? path.resolve(modelPath) : undefined,
    cacheDir: issues.parse(env, 'EMBEDDINGS_XENOVA_CACHE_DIR', str()),
    allowRemote: issues.parse(env, 'EMBEDDINGS_XENOVA_ALLOW_REMOTE', bool(true)),
    batchSize: issues.parse(env, 'EMBEDDINGS_BATCH_SIZE', int(32, { max: 4096 })),
    chunkSize,
    chunkOverlap,
  };
  const nextModel = issues.parse(env, 'EMBEDDINGS_NEXT_XENOVA_MODEL', str());
  const nextPath = issues.parse(env, 'EMBEDDINGS_NEXT_XENOVA_MODEL_PATH', str());
  if (nextModel || nextPath) {
    embeddings.next = { model: (nextModel as string | undefined) ?? (nextPath ? path.basename(nextPath) : ''), modelPath: nextPath ? path.resolve(nextPath) : undefined };
    if (embeddingModelName({ ...embeddings, ...embeddings.next }) === embeddingModelName(embeddings)) {
      issues.list.push(`EMBEDDINGS_NEXT_XENOVA_MODEL: names the model EMBEDDINGS_XENOVA_MODEL already loads (${embeddingModelName(embeddings)}); allowed: another model, or unset`);
    }
  }
  const llm: LlmConfig = {
    provider: issues.parse(env, 'LLM_PROVIDER', oneOf(LLM_PROVIDERS, 'ollama')),
    url: issues.parse(env, 'LLM_URL', url('http://localhost:11434')) as string,
    model: issues.parse(env, 'LLM_MODEL', str('llama3.2')) as string,
    timeoutMs: issues.parse(env, 'LLM_TIMEOUT_MS', int(120000)),
  };
  let jwtSecret = issues.parse(env, 'AUTH_JWT_SECRET', str());
  let insecureDefault = false;
  const jwksUrl = issues.parse(env, 'AUTH_JWKS_URL', url()) as string | undefined;
  if (!jwtSecret && jwksUrl) {
    jwtSecret = ''; // no shared secret: every token must be signed by the identity provider
  } else if (!jwtSecret) {
    if (nodeEnv === 'production') issues.list.push('AUTH_JWT_SECRET: is required when NODE_ENV=production; allowed: a secret of at least 32 characters');
    jwtSecret = DEV_SECRET;
    insecureDefault = true;
  } else if (nodeEnv === 'production' && jwtSecret.length < 32) {
    issues.list.push('AUTH_JWT_SECRET: is too short for production; allowed: a secret of at least 32 characters');
  } else if (nodeEnv === 'production' && (jwtSecret === DEV_SECRET || new Set(jwtSecret).size < 10)) {
    // The README's development secret, or one a guesser tries first ('a' x 32, '0123456789' repeated...).
    issues.list.push('AUTH_JWT_SECRET: is a known or low-entropy secret, refused in production; allowed: a random secret of at least 32 characters (e.g. `openssl rand -base64 48`)');
  }
  const issuer = issues.parse(env, 'AUTH_ISSUER', str());
  const audience = issues.parse(env, 'AUTH_AUDIENCE', str());
  // One identity provider often serves many apps: in production its tokens must be meant for this one.
  if (jwksUrl && nodeEnv === 'production') {
    if (!issuer) issues.list.push('AUTH_ISSUER: is required with AUTH_JWKS_URL when NODE_ENV=production; allowed: the `iss` of your identity provider\'s tokens');
    if (!audience) issues.list.push('AUTH_AUDIENCE: is required with AUTH_JWKS_URL when NODE_ENV=production; allowed: the `aud` your identity provider puts in tokens for this API');
  }
  const maxTokenSeconds = issues.parse(env, 'AUTH_MAX_TOKEN_SECONDS', int(86_400, { min: 60, max: 31_536_000, what: 'seconds from 60 to 31536000' })) as number;
  const minScore = Number(env.KNOWLEDGE_MIN_SCORE ?? '0.2');
  if (!Number.isFinite(minScore) || minScore < -1 || minScore > 1) {
    issues.list.push(`KNOWLEDGE_MIN_SCORE: got ${JSON.stringify(env.KNOWLEDGE_MIN_SCORE)}; allowed: a number from -1 to 1`);
  }
  const config: SwitchyardConfig = {
    env: nodeEnv,
    port: issues.parse(env, 'PORT', int(3000, { max: 65535, what: 'a TCP port number' })),
    host: issues.parse(env, 'HOST', str(nodeEnv === 'production' ? '0.0.0.0' : '127.0.0.1')) as string,
    relational: active.relational,
    vector: active.vector,
    embeddings,
    llm,
    auth: {
      jwtSecret,
      insecureDefault,
      maxTokenSeconds,
      ...(jwksUrl ? { jwks: { url: jwksUrl, issuer: issuer as string | undefined, audience: audience as string | undefined } } : {}),
      rolesClaim: issues.parse(env, 'AUTH_ROLES_CLAIM', str('roles')) as string,
    },
    knowledge: {
      maxDocumentBytes: issues.parse(env, 'KNOWLEDGE_MAX_DOCUMENT_BYTES', int(10 * 1024 * 1024)),
      maxSearchLimit: issues.parse(env, 'KNOWLEDGE_MAX_SEARCH_LIMIT', int(50, { max: 1000 })),
      minScore,
      answerContextChunks: issues.parse(env, 'KNOWLEDGE_ANSWER_CONTEXT_CHUNKS', int(4, { max: 50 })),
      generationPollMs: issues.parse(env, 'KNOWLEDGE_GENERATION_POLL_MS', int(1000, { min: 50, max: 60_000 })),
    },
    migration: {
      dataDir: path.resolve(issues.parse(env, 'MIGRATION_DATA_DIR', str('./data/migrations')) as string),
      batchSize: issues.parse(env, 'MIGRATION_BATCH_SIZE', int(1000, { max: 100000 })),
      profiles: parseMigrationProfiles(env, issues),
      instanceId: issues.parse(env, 'MIGRATION_INSTANCE_ID', str()) as string | undefined,
      queue: parseQueue(env, issues),
    },
    health: { timeoutMs: issues.parse(env, 'HEALTH_TIMEOUT_MS', int(1500, { min: 50, max: 60_000, what: 'a number of milliseconds' })) },
    graphql: {
      maxDepth: issues.parse(env, 'GRAPHQL_MAX_DEPTH', int(8, { min: 2, max: 100 })),
      maxAliases: issues.parse(env, 'GRAPHQL_MAX_ALIASES', int(10, { min: 0, max: 1000 })),
      maxCost: issues.parse(env, 'GRAPHQL_MAX_COST', int(3000, { min: 10, max: 1_000_000 })),
      maxPage: issues.parse(env, 'GRAPHQL_MAX_PAGE', int(100, { min: 1, max: 10_000 })),
    },
    log: { level: issues.parse(env, 'LOG_LEVEL', oneOf(LOG_LEVELS, nodeEnv === 'test' ? 'warn' : 'info')) as LogLevel },
  };
  if (issues.list.length) throw new ConfigError(issues.list);
  return config;
}

/** The active profile as a ProviderProfile (the migration target). */
export function activeProfile(config: SwitchyardConfig): ProviderProfile {
  return { name: 'active', relational: config.relational, vector: config.vector };
}

/** The model name recorded with vectors: the hub id, or a local model directory's name. */
export function embeddingModelName(e: EmbeddingsConfig): string {
  return e.modelPath ? path.basename(e.modelPath) : e.model;
}
