import { defineConfig } from 'tsup'

// Two builds (scripts/build.mjs cleans first and finishes after):
// - ESM, one module per source file in dist/esm/ (with "type": "module" there): with
//   "sideEffects": false, a bundler keeps only the modules an app reaches, so importing
//   `createTokenProvider` does not bring in the client and ky. dist/index.mjs re-exports it.
// - CJS, bundled per entry with shared chunks (one AuthError class for all entries), and the
//   declarations (.d.ts and .d.mts). "type": "commonjs": the CJS build reads `require('ky')`
//   through esbuild's non-Node interop, which yields ky's default export (with "type": "module" it
//   would not: `ky.create` is then undefined under `require()`).
export default defineConfig([
  {
    entry: ['src/**/*.ts'],
    format: ['esm'],
    bundle: false,
    outDir: 'dist/esm',
    outExtension: () => ({ js: '.js' }),
    sourcemap: true,
    target: 'es2022',
    platform: 'neutral',
    clean: false,
  },
  {
    entry: { index: 'src/index.ts', node: 'src/node.ts', redis: 'src/redis.ts', otel: 'src/otel.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    target: 'es2022',
    platform: 'neutral',
    splitting: true,
    clean: false,
  },
  // The `refreshing-client` program (package `bin`): one CommonJS file for Node, with its shebang.
  {
    entry: { cli: 'src/cli.ts' },
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    clean: false,
  },
])
