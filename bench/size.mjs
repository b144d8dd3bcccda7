// Size: esbuild bundles (minified, tree-shaken, for browsers) of small entry files that import one
// export of the built package, gzipped at level 9 — what a user's bundle gains. ky alone is the
// baseline of the client, and jose's decodeJwt with mitt (the provider's dependencies) that of
// the provider. `npm test` enforces the budgets with size-limit (.size-limit.cjs).
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { emit, log, root, row } from './lib/harness.mjs'

const dist = `${root}dist/index.mjs`
const entries = {
  createTokenProvider: `import { createTokenProvider } from ${JSON.stringify(dist)}\nconsole.log(createTokenProvider)`,
  RefreshingClient: `import { RefreshingClient } from ${JSON.stringify(dist)}\nconsole.log(RefreshingClient)`,
  ky: `import ky from 'ky'\nconsole.log(ky)`,
  'decodeJwt + mitt': `import { decodeJwt } from 'jose'\nimport mitt from 'mitt'\nconsole.log(decodeJwt, mitt)`,
}

async function gzipped(source) {
  const result = await build({
    stdin: { contents: source, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    treeShaking: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0].contents
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length }
}

const sizes = {}
for (const [name, source] of Object.entries(entries)) {
  sizes[name] = await gzipped(source)
  log(`size: ${name} ${sizes[name].minified} B minified, ${sizes[name].gzipped} B min+gz`)
}
const gz = (name) => sizes[name].gzipped
emit([
  row('size min+gz: jose decodeJwt + mitt', gz('decodeJwt + mitt'), 'bytes', gz('decodeJwt + mitt')),
  row(
    'size min+gz: createTokenProvider alone (vs decodeJwt + mitt)',
    gz('createTokenProvider'),
    'bytes',
    gz('decodeJwt + mitt'),
    'size.token-provider',
  ),
  row('size min+gz: ky alone', gz('ky'), 'bytes', gz('ky')),
  row('size min+gz: RefreshingClient with ky (vs ky alone)', gz('RefreshingClient'), 'bytes', gz('ky'), 'size.client'),
])
