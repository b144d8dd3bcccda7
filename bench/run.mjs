// Runs every benchmark against the built package (`npm run bench` builds it first), each suite in
// its own Node process, then prints one table and writes bench/results.json: an array of
// { key, name, value, unit, baseline, ratio }, where baseline is the value of the baseline measured in
// the same run and ratio = value / baseline (null where a figure has no baseline).
// `node bench/run.mjs overhead size` runs only the suites named; `node bench/run.mjs --table` prints
// the table of the last results again (for the README).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { lastJsonLine, log, root, runNode } from './lib/harness.mjs'

const suites = {
  overhead: ['bench/overhead.mjs'],
  throughput: ['bench/throughput.mjs'],
  storm: ['bench/storm.mjs'],
  registry: ['--expose-gc', 'bench/registry-scale.mjs'],
  memory: ['bench/registry-memory.mjs'],
  size: ['bench/size.mjs'],
  startup: ['bench/startup.mjs'],
  fleet: ['bench/fleet-store.mjs'],
  otel: ['bench/otel-overhead.mjs'],
  proxy: ['bench/proxy.mjs'],
  file: ['bench/file-store.mjs'],
  dpop: ['bench/dpop.mjs'],
}

const KB = 1024
const MB = 1024 * 1024
// Targets, by a row's key (see `row` in lib/harness.mjs): the text shown, and the check, which
// also gets every row by key.
const targets = {
  'overhead.get.added': ['≤ 1,000 ns', (r) => r.value <= 1000],
  'overhead.post-json.added': ['≤ 1,000 ns', (r) => r.value <= 1000],
  'dpop.bearer.added': ['≤ 1,000 ns', (r) => r.value <= 1000],
  'throughput.client.fetch': [
    '≥ 0.97× raw fetch, ahead of axios',
    (r, byKey) => {
      const axios = byKey.get('throughput.axios-auth-refresh')
      return r.ratio >= 0.97 && (axios === undefined || r.value > axios.value)
    },
  ],
  'storm.ours.token-calls': ['= 1', (r) => r.value === 1],
  'storm.ours.api-hits': ['= 20,000', (r) => r.value === 20_000],
  'storm.ours.succeeded': ['= 10,000', (r) => r.value === 10_000],
  'registry.set-token.1k': ['≤ 10 µs', (r) => r.value <= 10],
  'registry.set-token.100k': ['≤ 10 µs, flat (≤ 1.25×)', (r) => r.value <= 10 && r.ratio <= 1.25],
  'otel.added': ['≤ 100 ns', (r) => r.value <= 100],
  'memory.heap-per-scope': ['≤ 2 KB (2,048 B)', (r) => r.value <= 2 * KB],
  'memory.heap-growth': ['< 2 MB (2,097,152 B)', (r) => r.value < 2 * MB],
  'proxy.heap-growth': ['< 2 MB (2,097,152 B)', (r) => r.value < 2 * MB],
  'proxy.token-calls': ['= 1', (r) => r.value === 1],
  'fleet.get-token': ['≈ memory store (≤ 1.5×)', (r) => r.ratio <= 1.5],
  'file.get-token': ['≈ memory store (≤ 1.5×)', (r) => r.ratio <= 1.5],
  'size.token-provider': ['≤ 3 kB (3,000 B)', (r) => r.value <= 3000],
  'size.client': ['≤ 13 kB (13,000 B)', (r) => r.value <= 13_000],
}

if (process.argv[2] === '--table') {
  process.stdout.write(`${table(JSON.parse(readFileSync(`${root}bench/results.json`, 'utf8'))).join('\n')}\n`)
  process.exit(0)
}
if (!existsSync(`${root}dist/index.mjs`))
  throw new Error('dist/index.mjs is missing: run `npm run bench`, which builds first')
const only = process.argv.slice(2)
for (const name of only) if (!(name in suites)) throw new Error(`no such suite: ${name}`)
const selected = only.length > 0 ? only : Object.keys(suites)

const machine = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`
const loadBefore = loadavg()[0]
const begin = performance.now()
const rows = []
for (const name of selected) {
  log(`suite ${name} (${((performance.now() - begin) / 1000).toFixed(0)} s elapsed)`)
  rows.push(...lastJsonLine(runNode(suites[name])))
}
const seconds = (performance.now() - begin) / 1000
const loadAfter = loadavg()[0]

const rounded = rows.map(({ key = null, name, value, unit, baseline, ratio }) => ({
  key,
  name,
  value: round(value),
  unit,
  baseline: baseline === null ? null : round(baseline),
  ratio: ratio === null ? null : Math.round(ratio * 10_000) / 10_000,
}))
writeFileSync(`${root}bench/results.json`, `${JSON.stringify(rounded, null, 2)}\n`)

const summary = `${machine}; load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after; ${seconds.toFixed(0)} s`
process.stdout.write(`\n${summary}\n\n${table(rounded).join('\n')}\n\nWritten to bench/results.json\n`)

function table(results) {
  const byKey = new Map(results.filter((r) => r.key != null).map((r) => [r.key, r]))
  const missing = Object.keys(targets).filter((key) => !byKey.has(key))
  if (missing.length > 0) log(`no row for the target(s) ${missing.join(', ')}`)
  const lines = ['| benchmark | value | unit | baseline | ratio | target |', '|---|--:|---|--:|--:|---|']
  for (const r of results) {
    const target = r.key == null ? undefined : targets[r.key]
    const verdict = target === undefined ? '' : `${target[0]} ${target[1](r, byKey) ? '✓' : '✗'}`
    const ratio = r.ratio === null ? '' : `${format(r.ratio)}×`
    const baseline = r.baseline === null ? '' : format(r.baseline)
    lines.push(`| ${r.name} | ${format(r.value)} | ${r.unit} | ${baseline} | ${ratio} | ${verdict} |`)
  }
  return lines
}

function round(value) {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 1000) / 1000
}

function format(value) {
  if (Number.isInteger(value)) return value.toLocaleString('en-US')
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 4
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}
