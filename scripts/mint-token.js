#!/usr/bin/env node
'use strict';
/**
 * Mints an HS256 bearer token for local use.
 *   npm run token -- <userId> [--admin] [--expires 12h]
 * Reads AUTH_JWT_SECRET from the environment or .env (the same secret the app verifies with).
 */
const jwt = require('jsonwebtoken');
try {
  process.loadEnvFile('.env');
} catch {
  /* no .env */
}
const args = process.argv.slice(2);
const sub = args.find((a) => !a.startsWith('--'));
if (!sub) {
  process.stderr.write('usage: npm run token -- <userId> [--admin] [--expires 12h]\n');
  process.exit(2);
}
const secret = process.env.AUTH_JWT_SECRET || 'switchyard-dev-secret-do-not-use-in-production';
if (!process.env.AUTH_JWT_SECRET) process.stderr.write('AUTH_JWT_SECRET is not set: signing with the development default secret\n');
const i = args.indexOf('--expires');
const expiresIn = i >= 0 ? args[i + 1] : '12h';
process.stdout.write(jwt.sign({ sub, roles: args.includes('--admin') ? ['admin'] : [] }, secret, { algorithm: 'HS256', expiresIn }) + '\n');
