'use strict';
/**
 * The servers the benchmarks run against, started once per run with the project's own launchers
 * (scripts/services): PostgreSQL 17 + pgvector (a fresh database per measured run) and Chroma.
 * BENCH_DATABASE_URL / BENCH_CHROMA_URL / BENCH_REDIS_URL use existing servers instead (Redis: also REDIS_URL,
 * then the machine's 127.0.0.1:6379); BENCH_CHROMA_PERSIST_DIR names the data directory of BENCH_CHROMA_URL's
 * server (the `vectors` benchmark also reads the collection straight from it).
 */
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ROOT } = require('./child');

const postgres = require(path.join(ROOT, 'scripts', 'services', 'postgres.js'));
const chroma = require(path.join(ROOT, 'scripts', 'services', 'chroma.js'));
const redis = require(path.join(ROOT, 'scripts', 'services', 'redis.js'));

const log = (m) => process.stderr.write(`  [services] ${m}\n`);

class Services {
  constructor() {
    this.pg = null;
    this.chroma = null;
    this.redis = null;
    this.databases = [];
  }

  async postgres() {
    if (!this.pg) {
      if (process.env.BENCH_DATABASE_URL) this.pg = { baseUrl: process.env.BENCH_DATABASE_URL, stop: async () => undefined };
      else this.pg = await postgres.startPostgres({ log });
    }
    return this.pg;
  }

  async chromaUrl() {
    if (!this.chroma) {
      if (process.env.BENCH_CHROMA_URL) this.chroma = { url: process.env.BENCH_CHROMA_URL, dataDir: process.env.BENCH_CHROMA_PERSIST_DIR || null, stop: async () => undefined };
      else this.chroma = await chroma.startChroma({ log });
    }
    return this.chroma.url;
  }

  /** The Chroma server's persist directory, or null when it is unknown (BENCH_CHROMA_URL without BENCH_CHROMA_PERSIST_DIR). */
  async chromaPersistDir() {
    await this.chromaUrl();
    return this.chroma.dataDir || null;
  }

  /** Redis for the queue benchmark: BENCH_REDIS_URL / REDIS_URL, the machine's 127.0.0.1:6379, or a private redis-server. */
  async redisUrl() {
    if (!this.redis) {
      const given = process.env.BENCH_REDIS_URL || process.env.REDIS_URL;
      this.redis = given ? { url: given, stop: async () => undefined } : await redis.startRedis({ log });
    }
    return this.redis.url;
  }

  /** A fresh, empty database with the vector extension; dropped at the end of the run (or by drop()). */
  async freshDatabase(prefix) {
    const pg = await this.postgres();
    const name = `bench_${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const url = await postgres.createDatabase(pg.baseUrl, name);
    this.databases.push(url);
    return url;
  }

  async drop(url) {
    await postgres.dropDatabase(this.pg.baseUrl, url).catch(() => undefined);
    this.databases = this.databases.filter((u) => u !== url);
  }

  /** A client on the server's base database, for checkpoints and size queries. */
  async query(url, sql, params = []) {
    const { Client } = require('pg');
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  async versions() {
    const v = { node: process.version };
    try {
      const pg = await this.postgres();
      const [s] = await this.query(pg.baseUrl, 'SHOW server_version');
      v.postgres = s.server_version;
      const db = await this.freshDatabase('ver');
      const [e] = await this.query(db, "SELECT extversion FROM pg_extension WHERE extname = 'vector'");
      v.pgvector = e && e.extversion;
      await this.drop(db);
    } catch (e) {
      v.postgres = `unavailable: ${e.message}`;
    }
    try {
      const url = await this.chromaUrl();
      const res = await fetch(`${url}/api/v2/version`);
      v.chromaServer = (await res.text()).replace(/"/g, '');
    } catch (e) {
      v.chromaServer = `unavailable: ${e.message}`;
    }
    for (const [k, pkg] of [['chromadbNpm', 'chromadb'], ['pg', 'pg'], ['typeorm', 'typeorm'], ['transformers', '@huggingface/transformers'], ['onnxruntime', 'onnxruntime-node'], ['betterSqlite3', 'better-sqlite3']]) {
      try {
        v[k] = JSON.parse(require('node:fs').readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
      } catch {
        v[k] = 'not installed';
      }
    }
    try {
      v.pgloader = execFileSync('pgloader', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/^pgloader version /, '').replace(/"/g, '');
    } catch {
      v.pgloader = 'not installed';
    }
    return v;
  }

  async stop() {
    for (const url of [...this.databases]) await this.drop(url);
    await Promise.all([this.pg && this.pg.stop(), this.chroma && this.chroma.stop(), this.redis && this.redis.stop()]);
  }
}

module.exports = { Services };
