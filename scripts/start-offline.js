#!/usr/bin/env node
'use strict';
/**
 * Starts the built app on the embedded default (SQLite + sqlite-vec) with the small generated test
 * model instead of downloading all-MiniLM-L6-v2: for machines without access to huggingface.co.
 * Search quality is that of a toy model; use `npm start` with a real model for real use.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const { ensureTestModels } = require('./generate-test-model');

const { TEST_EMBEDDINGS_MODEL_PATH } = ensureTestModels({ log: () => undefined });
const env = { ...process.env };
env.EMBEDDINGS_XENOVA_MODEL_PATH ??= TEST_EMBEDDINGS_MODEL_PATH;
env.VECTOR_DB_DIMENSIONS ??= '32';
env.RELATIONAL_DB_DATABASE ??= './data/switchyard-offline.sqlite';
const child = spawn(process.execPath, [path.join(__dirname, '..', 'dist', 'apps', 'api', 'src', 'main.js')], { env, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 1));
