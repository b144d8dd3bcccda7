// Memory: heap bytes per idle scope that holds a provider, one client and one heartbeat, and heap
// growth over 1,000,000 create/dispose cycles of a scope with a client. Each measurement runs in a
// fresh `node --expose-gc` process (this script, with a mode argument); the per-scope figure is the
// median of three such processes.
import { distEntry, emit, lastJsonLine, log, median, row, runNode } from './lib/harness.mjs'
import { mint } from './lib/jwt.mjs'

const scopes = 20_000
const cycles = 1_000_000
const mode = process.argv[2]

function heapUsed() {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}

if (mode === 'per-scope') {
  const { createRegistry } = await import(distEntry)
  // What the caller holds anyway (ids, their JWTs, heartbeat URLs) is made between the two
  // baselines: `before` gives what the library keeps per scope, `beforeInputs` that plus those strings.
  const beforeInputs = heapUsed()
  const ids = Array.from({ length: scopes }, (_, i) => `agent-${i}`)
  const tokens = await Promise.all(ids.map((sub) => mint({ sub })))
  const urls = ids.map((id) => `http://127.0.0.1:9/agents/${id}/heartbeat`)
  const fetchToken = async () => mint()
  const prebuilt = new Response(null, { status: 204 })
  const stub = () => Promise.resolve(prebuilt)
  const registry = createRegistry()
  const heartbeats = []
  const before = heapUsed()
  for (let i = 0; i < scopes; i++) {
    const scope = registry.scope(ids[i], { initialToken: tokens[i], fetchToken })
    const client = scope.client({ baseUrl: 'http://127.0.0.1:9/', fetch: stub })
    heartbeats.push(scope.heartbeat({ url: urls[i], intervalMs: 3_600_000, client }))
  }
  // Each heartbeat sends its first beat at once; wait until all have, so the scopes are idle.
  while (heartbeats.some((heartbeat) => heartbeat.ok !== 1)) await new Promise((resolve) => setTimeout(resolve, 10))
  heartbeats.length = 0
  const after = heapUsed()
  const bytesPerScope = (after - before) / scopes
  const withInputs = (after - beforeInputs) / scopes
  process.stdout.write(`${JSON.stringify({ bytesPerScope, withInputs, size: registry.size })}\n`)
  process.exit(0)
}

if (mode === 'cycles') {
  const { createRegistry } = await import(distEntry)
  const registry = createRegistry()
  const initialToken = await mint()
  const run = (count) => {
    for (let i = 0; i < count; i++) {
      const scope = registry.scope(`session-${i}`, { initialToken })
      scope.client({ baseUrl: 'http://127.0.0.1:9/' })
      scope.dispose()
    }
  }
  run(20_000)
  const before = heapUsed()
  const start = performance.now()
  run(cycles)
  const seconds = (performance.now() - start) / 1000
  const growthBytes = heapUsed() - before
  process.stdout.write(`${JSON.stringify({ growthBytes, seconds, size: registry.size })}\n`)
  process.exit(0)
}

const script = new URL(import.meta.url).pathname
const perScope = []
const withInputs = []
for (let run = 0; run < 3; run++) {
  const result = lastJsonLine(runNode(['--expose-gc', script, 'per-scope']))
  if (result.size !== scopes) throw new Error(`the registry held ${result.size} scopes, not ${scopes}`)
  perScope.push(result.bytesPerScope)
  withInputs.push(result.withInputs)
  log(
    `memory: ${result.bytesPerScope.toFixed(0)} bytes per idle scope, ${result.withInputs.toFixed(0)} with the ` +
      `caller's strings (run ${run + 1}/3, ${scopes} scopes)`,
  )
}
log(`memory: ${cycles.toLocaleString('en-US')} scope + client create/dispose cycles`)
const cycled = lastJsonLine(runNode(['--expose-gc', script, 'cycles']))
if (cycled.size !== 0) throw new Error(`${cycled.size} scopes were left in the registry`)
log(`memory: heap grew ${cycled.growthBytes} bytes over ${cycles} cycles in ${cycled.seconds.toFixed(1)} s`)
emit([
  row(
    `heap per idle scope with a client and a heartbeat (${scopes.toLocaleString('en-US')} scopes)`,
    median(perScope),
    'bytes',
    null,
    'memory.heap-per-scope',
  ),
  row('heap per idle scope, with the id, JWT and URL strings the caller passes', median(withInputs), 'bytes'),
  row(
    `heap growth after ${cycles.toLocaleString('en-US')} scope + client create/dispose cycles`,
    cycled.growthBytes,
    'bytes',
    null,
    'memory.heap-growth',
  ),
  row('scope + client create/dispose cycle', (cycled.seconds * 1e6) / cycles, 'µs/cycle'),
])
