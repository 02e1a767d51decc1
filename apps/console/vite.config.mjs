// The operator console: built into dist/console and served by the app at /console (no CDN, no requests elsewhere).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/console/',
  logLevel: 'warn',
  // JSX for Preact by esbuild alone (no framework plugin needed).
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: { outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)), emptyOutDir: true, target: 'es2022', sourcemap: false },
});
