// Registry scale: a push with `registry.setToken(id, token)` to one scope among 1,000 and among
// 100,000 (the two registries live in this one process; rounds interleave them), and
// `refreshAll()` over 10,000 scopes whose fetchToken resolves at once. Run with --expose-gc: a
// full collection before each batch keeps a major GC of the 100,000-scope heap, which may land in
// any batch of either registry, out of the figures.
import { distEntry, emit, log, median, nowNs, rotate, row } from './lib/harness.mjs'
import { mint } from './lib/jwt.mjs'

const { createRegistry } = await import(distEntry)

const rounds = 30
const pushesPerRound = 500
const fetchToken = async () => mint()

// Every push must replace the scope's token (a later `exp`), or it would measure a refusal.
const baseExp = Math.floor(Date.now() / 1000) + 3600
const initialToken = await mint({ exp: baseExp })
log(`registry: minting ${rounds * pushesPerRound} tokens to push`)
const pushes = []
for (let i = 1; i <= rounds * pushesPerRound; i++) pushes.push(await mint({ exp: baseExp + i }))

function fleet(size) {
  const registry = createRegistry()
  for (let i = 0; i < size; i++) registry.scope(`agent-${i}`, { initialToken, fetchToken })
  return { registry, size, target: `agent-${size >> 1}`, samples: [] }
}

log('registry: creating 1,000 and 100,000 scopes')
const fleets = [fleet(1_000), fleet(100_000)]
for (let round = 0; round < rounds; round++) {
  const batch = pushes.slice(round * pushesPerRound, (round + 1) * pushesPerRound)
  for (const { registry, target, samples } of rotate(fleets, round)) {
    globalThis.gc()
    const start = nowNs()
    let applied = 0
    for (const token of batch) if (registry.setToken(target, token)) applied++
    samples.push((nowNs() - start) / batch.length / 1000)
    if (applied !== batch.length) throw new Error(`only ${applied} of ${batch.length} pushes were applied`)
  }
}
const [small, large] = fleets.map((f) => median(f.samples))
log(`registry setToken: ${small.toFixed(2)} µs among 1,000, ${large.toFixed(2)} µs among 100,000`)
for (const { registry } of fleets) registry.dispose()

log('registry: refreshAll() over 10,000 scopes')
const fresh = await mint()
const registry = createRegistry()
for (let i = 0; i < 10_000; i++) {
  registry.scope(`agent-${i}`, { initialToken, fetchToken: () => Promise.resolve(fresh) })
}
const times = []
for (let run = 0; run < 7; run++) {
  const start = nowNs()
  const { refreshed, failed } = await registry.refreshAll()
  times.push((nowNs() - start) / 1e6)
  if (refreshed !== 10_000 || failed !== 0) throw new Error(`refreshAll: ${refreshed} refreshed, ${failed} failed`)
}
registry.dispose()
const refreshMs = median(times)
log(`registry refreshAll: ${refreshMs.toFixed(1)} ms for 10,000 scopes`)

emit([
  row('registry.setToken(id, token), one scope among 1,000', small, 'µs/push', small, 'registry.set-token.1k'),
  row(
    'registry.setToken(id, token), one scope among 100,000 (vs 1,000)',
    large,
    'µs/push',
    small,
    'registry.set-token.100k',
  ),
  row('registry.refreshAll(), 10,000 scopes (fetchToken resolves at once)', refreshMs, 'ms'),
  row('registry.refreshAll(), per scope', refreshMs / 10_000, 'ms/scope'),
])
