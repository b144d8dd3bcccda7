// Where client.fetch's time goes, next to raw fetch's: one client process runs both under the
// throughput load (concurrency 32, the bench server in its own process) in interleaved rounds,
// under `node --cpu-prof`. Each CPU sample is assigned to the round it fell in by its timestamp,
// so both variants are profiled under the same conditions; the self time per request is printed
// by where the code lives (our dist, undici, Node internals, native code, GC), with the
// difference, and then the functions of our own code.
// Not part of `npm run bench`: run `npm run build && node bench/profile.mjs`.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createVariant } from './lib/clients.mjs'
import { load, log, rotate, runNodeAsync } from './lib/harness.mjs'
import { startServerProcess } from './lib/server-process.mjs'

const names = ['raw fetch', 'client.fetch']
const rounds = 25
const perRound = 800
const [mode, ...rest] = process.argv.slice(2)

if (mode === '--client') {
  // The profiled process. Round boundaries are on the monotonic clock the profile uses (µs).
  const [origin, tokenUrl, token] = rest
  const variants = names.map((name) => ({ name, request: createVariant(name, { origin, tokenUrl, token }) }))
  for (const { request } of variants) await load(request, 2_000, 32)
  const spans = []
  for (let round = 0; round < rounds; round++) {
    for (const { name, request } of rotate(variants, round)) {
      const start = Number(process.hrtime.bigint() / 1000n)
      await load(request, perRound, 32)
      spans.push({ name, start, end: Number(process.hrtime.bigint() / 1000n) })
    }
  }
  process.stdout.write(`${JSON.stringify(spans)}\n`)
  process.exit(0)
}

const dir = mkdtempSync(join(tmpdir(), 'refreshing-client-profile-'))
const server = await startServerProcess()
const { token } = await server.call('mint')
const script = new URL(import.meta.url).pathname
const args = ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${dir}`, script, '--client']
const out = await runNodeAsync([...args, server.origin, server.tokenUrl, token])
await server.close()
const spans = JSON.parse(out.trim().split('\n').pop())
const file = readdirSync(dir).find((entry) => entry.endsWith('.cpuprofile'))
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'))
rmSync(dir, { recursive: true, force: true })

const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
const perVariant = new Map(names.map((name) => [name, { groups: new Map(), ours: new Map(), wallUs: 0 }]))
for (const span of spans) perVariant.get(span.name).wallUs += span.end - span.start
let time = profile.startTime
let spanIndex = 0
const sorted = [...spans].sort((a, b) => a.start - b.start)
for (let i = 0; i < profile.samples.length; i++) {
  time += profile.timeDeltas[i]
  while (spanIndex < sorted.length && sorted[spanIndex].end < time) spanIndex++
  const span = sorted[spanIndex]
  if (span === undefined || time < span.start) continue
  const delta = profile.timeDeltas[i + 1] ?? 0
  const { url, functionName, lineNumber } = nodes.get(profile.samples[i]).callFrame
  const target = perVariant.get(span.name)
  const group = groupOf(url, functionName)
  target.groups.set(group, (target.groups.get(group) ?? 0) + delta)
  if (group === 'refreshing-client (dist)') {
    const key = `${functionName || '(anonymous)'} (dist/index.mjs:${lineNumber + 1})`
    target.ours.set(key, (target.ours.get(key) ?? 0) + delta)
  }
}

const requests = rounds * perRound
const [raw, ours] = names.map((name) => perVariant.get(name))
const total = (variant) => [...variant.groups.values()].reduce((sum, us) => sum + us, 0) / requests
log(
  `wall time per request: raw fetch ${(raw.wallUs / requests).toFixed(1)} µs, client.fetch ${(ours.wallUs / requests).toFixed(1)} µs`,
)
log(`sampled time per request: raw fetch ${total(raw).toFixed(1)} µs, client.fetch ${total(ours).toFixed(1)} µs`)
log(
  `${'where'.padEnd(30)} ${'raw fetch'.padStart(10)} ${'client.fetch'.padStart(13)} ${'difference'.padStart(11)}  (µs/request)`,
)
const groups = new Set([...raw.groups.keys(), ...ours.groups.keys()])
const rows = [...groups].map((group) => [
  group,
  (raw.groups.get(group) ?? 0) / requests,
  (ours.groups.get(group) ?? 0) / requests,
])
for (const [group, a, b] of rows.sort((x, y) => y[2] - x[2])) {
  const difference = `${b - a >= 0 ? '+' : ''}${(b - a).toFixed(2)}`
  log(`${group.padEnd(30)} ${a.toFixed(2).padStart(10)} ${b.toFixed(2).padStart(13)} ${difference.padStart(11)}`)
}
log('our own code (self time, µs/request):')
for (const [fn, us] of [...ours.ours].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
  log(`  ${fn.padEnd(50)} ${(us / requests).toFixed(3).padStart(7)}`)
}

function groupOf(url, functionName) {
  if (url.includes('/dist/')) return 'refreshing-client (dist)'
  if (url.includes('/bench/')) return 'bench harness'
  if (url.includes('/node_modules/')) return url.split('/node_modules/').pop().split('/')[0]
  if (url.includes('undici')) return 'undici (fetch)'
  if (url.startsWith('node:')) return 'node internals'
  if (functionName === '(garbage collector)') return 'garbage collector'
  if (functionName === '(idle)' || functionName === '(program)') return functionName
  return url === '' ? 'native (bindings, builtins)' : 'other'
}
