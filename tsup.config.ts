import { defineConfig } from 'tsup'

// "type": "commonjs": ESM is emitted as .mjs and CJS as .js, and the CJS build reads
// `require('ky')` through esbuild's non-Node interop, which yields ky's default export (with
// "type": "module" it would not: `ky.create` is then undefined under `require()`).
export default defineConfig({
  entry: { index: 'src/index.ts', node: 'src/node.ts', redis: 'src/redis.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  treeshake: true,
  splitting: true,
})
