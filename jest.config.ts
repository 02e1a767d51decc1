import type { Config } from 'jest';

const libs = ['core', 'relational-db', 'vector-db', 'embeddings', 'llm', 'knowledge', 'migration'];

const config: Config = {
  rootDir: '.',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  moduleNameMapper: Object.fromEntries(
    libs.map((l) => [`^@switchyard/${l}$`, `<rootDir>/libs/${l}/src`]),
  ),
  // Built packages and the example host app (with its own node_modules) are not sources of these tests.
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/examples/', '<rootDir>/libs/[^/]+/package.json'],
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
  testTimeout: 120000,
  // Servers are stopped by globalTeardown; a library handle left open (a pool's idle timer, a socket)
  // must not keep CI waiting after the summary.
  forceExit: true,
  verbose: true,
};

export default config;
