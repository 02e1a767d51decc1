'use strict';
/**
 * Preloaded (-r) into every benchmark worker: resolves the `@switchyard/*` imports of the compiled sources
 * to their compiled folders in bench/.build (or $BENCH_BUILD_DIR), with the same mapping as tsconfig.json's
 * "paths" (`@switchyard/core` -> `libs/core/src`, ...). Plain Node, no dependency.
 */
const path = require('node:path');
const Module = require('node:module');
const { compilerOptions } = require('../../tsconfig.json');

const base = process.env.BENCH_BUILD_DIR || path.join(__dirname, '..', '.build');
const mapped = new Map(Object.entries(compilerOptions.paths).map(([name, [target]]) => [name, path.join(base, target)]));

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const target = mapped.get(request);
  return resolve.call(this, target ?? request, ...rest);
};
