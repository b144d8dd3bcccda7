// npm run build: tsup (see tsup.config.ts), then the ESM entry points become re-exports of the
// per-module ESM build, and tsup's bundled ESM files are removed.
import { execFileSync } from 'node:child_process'
import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = `${root}dist/`
rmSync(dist, { recursive: true, force: true })
execFileSync(process.execPath, [`${root}node_modules/tsup/dist/cli-default.js`, '--silent'], {
  cwd: root,
  stdio: 'inherit',
})
for (const file of readdirSync(dist)) {
  if (/^chunk-.*\.mjs(\.map)?$/.test(file) || /\.mjs\.map$/.test(file)) rmSync(dist + file)
}
for (const entry of ['index', 'node', 'redis', 'otel']) {
  writeFileSync(`${dist}${entry}.mjs`, `export * from './esm/${entry}.js'\n`)
}
writeFileSync(`${dist}esm/package.json`, `${JSON.stringify({ type: 'module', sideEffects: false }, null, 2)}\n`)
