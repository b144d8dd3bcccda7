// Loopback throughput: 20,000 GET requests per client at concurrency 32 to a keep-alive node:http
// server in another process. The load of this shared machine swings by 2× within seconds, so the
// 20,000 are sent in 25 short interleaved rounds of 800: each round runs every client once, in
// another order, and a client is compared with raw fetch round by round (the ratio is the median
// of the 25 per-round ratios; req/s are the medians of the rounds). The client process's CPU time
// per request is reported too: unlike req/s it hardly depends on what else the machine is doing.
import { createVariant, variantNames } from './lib/clients.mjs'
import { emit, load, log, median } from './lib/harness.mjs'
import { interleave, medianRatio } from './lib/interleave.mjs'
import { startServerProcess } from './lib/server-process.mjs'

const total = 20_000
const rounds = 25
const perRound = total / rounds
const concurrency = 32

const server = await startServerProcess()
const { token } = await server.call('mint')
// A second raw fetch, as an A/A control: its ratio to the first shows how much of a ratio is noise.
const names = [variantNames[0], `${variantNames[0]}, again (A/A control)`, ...variantNames.slice(1)]
const variants = names.map((name, i) => ({
  name,
  request: createVariant(i === 1 ? variantNames[0] : name, {
    origin: server.origin,
    tokenUrl: server.tokenUrl,
    token,
  }),
  samples: [],
}))

log(`throughput: warming up ${variants.length} clients`)
for (const variant of variants) await measure(variant, 2_000)
const rates = (variant) => variant.samples.map((sample) => sample.perSecond)
await interleave(variants, {
  rounds,
  measure: (variant) => measure(variant, perRound),
  afterRound(round) {
    if ((round + 1) % 5 !== 0) return
    const line = variants.map((v) => `${v.name} ${Math.round(median(rates(v)))}`).join(', ')
    log(`throughput after ${round + 1}/${rounds} rounds (median req/s): ${line}`)
  },
})
const { tokenCalls } = await server.call('stats')
await server.close()
if (tokenCalls !== 0) throw new Error(`the token endpoint was called ${tokenCalls} times during the throughput runs`)

const [raw] = variants
const cpu = (variant) => variant.samples.map((sample) => sample.cpuMicros)
const rows = []
for (const variant of variants) {
  rows.push({
    key: `throughput.${variant.name}`,
    name: `throughput, 20k requests at concurrency ${concurrency}: ${variant.name} (ratio: median of per-round ratios to raw fetch)`,
    value: median(rates(variant)),
    unit: 'req/s',
    baseline: median(rates(raw)),
    ratio: medianRatio(rates(variant), rates(raw)),
  })
}
for (const variant of variants) {
  rows.push({
    key: `cpu.${variant.name}`,
    name: `client CPU per request at concurrency ${concurrency}: ${variant.name} (ratio: median of per-round ratios to raw fetch)`,
    value: median(cpu(variant)),
    unit: 'µs/request',
    baseline: median(cpu(raw)),
    ratio: medianRatio(cpu(variant), cpu(raw)),
  })
}
emit(rows)

async function measure(variant, count) {
  const result = await load(variant.request, count, concurrency)
  if (result.failed > 0) throw new Error(`${variant.name}: ${result.failed} of ${count} requests failed`)
  return result
}
