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
// Every .mjs but the entries goes: tsup's ESM chunks, shared and lazily imported alike (the lazy
// ones, store-link and fleet, are imported from dist/esm/ instead).
const entries = ['index', 'node', 'redis', 'otel']
for (const file of readdirSync(dist)) {
  const entry = entries.some((name) => file === `${name}.mjs`)
  if ((file.endsWith('.mjs') && !entry) || file.endsWith('.mjs.map')) rmSync(dist + file)
}
for (const entry of entries) {
  writeFileSync(`${dist}${entry}.mjs`, `export * from './esm/${entry}.js'\n`)
}
writeFileSync(`${dist}esm/package.json`, `${JSON.stringify({ type: 'module', sideEffects: false }, null, 2)}\n`)
