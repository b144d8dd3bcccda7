// Where a client's time goes under the throughput load: runs `node --cpu-prof` on a client process
// sending 20,000 requests at concurrency 32 to the bench server (in its own process), for raw fetch
// and for client.fetch, then prints each profile's self time grouped by where the code lives (our
// dist, undici, Node internals, GC…) and the top functions of our own code.
// Not part of `npm run bench`: run `npm run build && node bench/profile.mjs [variant…]`.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createVariant } from './lib/clients.mjs'
import { load, log, root, runNodeAsync } from './lib/harness.mjs'
import { startServerProcess } from './lib/server-process.mjs'

const [mode, ...rest] = process.argv.slice(2)

if (mode === '--client') {
  // The profiled process: warm up, then the measured load.
  const [name, origin, tokenUrl, token] = rest
  const request = createVariant(name, { origin, tokenUrl, token })
  await load(request, 2_000, 32)
  const { perSecond } = await load(request, 20_000, 32)
  process.stdout.write(`${JSON.stringify({ perSecond })}\n`)
  process.exit(0)
}

const names = process.argv.length > 2 ? process.argv.slice(2) : ['raw fetch', 'client.fetch']
const dir = `${root}bench/.tmp/profiles`
const server = await startServerProcess()
const { token } = await server.call('mint')
for (const name of names) {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const script = new URL(import.meta.url).pathname
  const out = await runNodeAsync([
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    script,
    '--client',
    name,
    server.origin,
    token,
  ])
  const file = readdirSync(dir).find((entry) => entry.endsWith('.cpuprofile'))
  summarise(
    name,
    JSON.parse(out.trim().split('\n').pop()).perSecond,
    JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')),
  )
}
await server.close()

function summarise(name, perSecond, profile) {
  const self = new Map()
  const samplesByNode = new Map()
  for (const id of profile.samples) samplesByNode.set(id, (samplesByNode.get(id) ?? 0) + 1)
  const intervalUs = (profile.endTime - profile.startTime) / profile.samples.length
  const total = profile.samples.length * intervalUs
  const groups = new Map()
  for (const node of profile.nodes) {
    const us = (samplesByNode.get(node.id) ?? 0) * intervalUs
    if (us === 0) continue
    const { url, functionName, lineNumber } = node.callFrame
    const group = groupOf(url, functionName)
    groups.set(group, (groups.get(group) ?? 0) + us)
    if (group === 'refreshing-client (dist)') {
      const key = `${functionName || '(anonymous)'} :${lineNumber + 1}`
      self.set(key, (self.get(key) ?? 0) + us)
    }
  }
  log(
    `profile of ${name}: ${Math.round(perSecond)} req/s; self time per request, of ${(total / 22_000).toFixed(1)} µs sampled`,
  )
  for (const [group, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
    log(`  ${group.padEnd(28)} ${(us / 22_000).toFixed(2).padStart(7)} µs  ${((100 * us) / total).toFixed(1)}%`)
  }
  for (const [fn, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    log(`    ${fn.padEnd(40)} ${(us / 22_000).toFixed(3).padStart(7)} µs`)
  }
}

function groupOf(url, functionName) {
  if (url.includes('/dist/')) return 'refreshing-client (dist)'
  if (url.includes('/node_modules/')) return url.split('/node_modules/').pop().split('/')[0]
  if (url.includes('undici')) return 'undici (fetch)'
  if (url.startsWith('node:')) return 'node internals'
  if (url.includes('/bench/')) return 'bench harness'
  if (functionName === '(garbage collector)') return 'garbage collector'
  if (functionName === '(idle)' || functionName === '(program)') return functionName
  return url === '' ? 'native (bindings, builtins)' : 'other'
}
