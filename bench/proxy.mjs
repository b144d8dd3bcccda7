// The `refreshing-client proxy` program against direct requests to the same upstream (a keep-alive
// node:http API in another process), in one run:
// - throughput at concurrency 16, in 20 interleaved rounds (ratio: median of per-round ratios);
// - added latency at p50 and p99, one request at a time, interleaved in blocks of 50;
// - the proxy's heap (after gc) once warm and after 100,000 proxied requests.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { emit, load, log, median, root, row } from './lib/harness.mjs'
import { startServerProcess } from './lib/server-process.mjs'

const rounds = 20
const perRound = 1_000
const concurrency = 16
const latencySamples = 2_000
const heapRequests = 100_000

const server = await startServerProcess()
const proxy = await startProxy(server)
// The direct baseline carries a valid token of its own, as a host with a static header would.
const { token } = await server.call('mint')
const direct = () => get(`${server.origin}/agents/bench/tools`, { authorization: `Bearer ${token}` })
const proxied = () => get(`${proxy.url}/agents/bench/tools`)

log('proxy: warming up')
await load(direct, 2_000, concurrency)
await load(proxied, 2_000, concurrency)
const rates = { direct: [], proxied: [] }
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? ['direct', 'proxied'] : ['proxied', 'direct']
  for (const name of order) {
    const result = await load(name === 'direct' ? direct : proxied, perRound, concurrency)
    if (result.failed > 0) throw new Error(`${name}: ${result.failed} of ${perRound} requests failed`)
    rates[name].push(result.perSecond)
  }
}
log(`proxy: throughput direct ${Math.round(median(rates.direct))}, proxied ${Math.round(median(rates.proxied))} req/s`)

const latency = { direct: [], proxied: [] }
for (let block = 0; block < latencySamples / 50; block++) {
  for (const name of block % 2 === 0 ? ['direct', 'proxied'] : ['proxied', 'direct']) {
    for (let i = 0; i < 50; i++) {
      const begin = performance.now()
      if ((await (name === 'direct' ? direct : proxied)()) !== true) throw new Error(`${name}: a request failed`)
      latency[name].push(performance.now() - begin)
    }
  }
}

const warmHeap = await proxy.heap()
log(`proxy: ${heapRequests} requests for the heap check`)
const heapRun = await load(proxied, heapRequests, concurrency)
if (heapRun.failed > 0) throw new Error(`${heapRun.failed} proxied requests failed`)
const afterHeap = await proxy.heap()
const { tokenCalls } = await server.call('stats')
await proxy.close()
await server.close()

const perRoundRatio = median(rates.proxied.map((value, i) => value / rates.direct[i]))
const rows = [
  {
    key: 'proxy.throughput',
    name: `proxy, ${rounds * perRound} requests at concurrency ${concurrency}: through refreshing-client proxy (ratio: median of per-round ratios to direct)`,
    value: median(rates.proxied),
    unit: 'req/s',
    baseline: median(rates.direct),
    ratio: perRoundRatio,
  },
]
for (const p of [50, 99]) {
  const directMs = percentile(latency.direct, p)
  const proxiedMs = percentile(latency.proxied, p)
  rows.push(
    row(
      `proxy, latency p${p}, one request at a time: added by the proxy`,
      (proxiedMs - directMs) * 1000,
      'µs',
      directMs * 1000,
    ),
  )
}
rows.push(
  row(
    `proxy heap growth after ${heapRequests.toLocaleString('en')} proxied requests`,
    afterHeap - warmHeap,
    'B',
    warmHeap,
    'proxy.heap-growth',
  ),
)
rows.push(row('proxy: token-endpoint calls over the whole run', tokenCalls, 'calls', null, 'proxy.token-calls'))
emit(rows)

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function get(url, headers = {}) {
  const response = await fetch(url, { headers })
  await response.arrayBuffer()
  return response.status === 200
}

async function startProxy({ origin, tokenUrl }) {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
  const probe = fileURLToPath(new URL('./lib/heap-probe.cjs', import.meta.url))
  const child = fork(
    cli,
    [
      'proxy',
      '--upstream',
      `${origin}/`,
      '--token-url',
      tokenUrl,
      '--client-id',
      'bench',
      '--client-secret-env',
      'BENCH_SECRET',
    ],
    {
      cwd: root,
      env: { ...process.env, BENCH_SECRET: 'bench secret' },
      execArgv: ['--expose-gc', '--require', probe],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  )
  const url = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk
      const match = /^listening on (\S+)$/m.exec(out)
      if (match) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`the proxy exited early (${code})`)))
  })
  return {
    url,
    heap: () =>
      new Promise((resolve) => {
        child.once('message', (message) => resolve(message.heapUsed))
        child.send('heap')
      }),
    close: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit')
        child.once('exit', resolve)
        child.kill('SIGTERM')
      }),
  }
}
