'use strict';
/**
 * Preloaded (-r) into every benchmark worker: maps the `@switchyard/*` imports of the compiled sources in
 * bench/.build to their compiled folders (the same mapping as tsconfig.json's "paths").
 */
const path = require('node:path');
const tsconfigPaths = require('tsconfig-paths');
const { compilerOptions } = require('../../tsconfig.json');

tsconfigPaths.register({ baseUrl: path.join(__dirname, '..', '.build'), paths: compilerOptions.paths });
