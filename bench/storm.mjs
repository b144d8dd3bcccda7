// Refresh storm: N requests at once meet a token the server has just revoked. Counts the token
// endpoint's calls, the API's hits and the requests that succeeded, for our client and for the
// peers' recipes. The servers run in their own process; each storm runs in a fresh client process
// whose connection pool holds 256 sockets per origin (see lib/storm-client.mjs for why). Rounds
// interleave the clients and the medians are reported; ratios are to our client's figures.
import { emit, lastJsonLine, log, median, rotate, row, runNodeAsync } from './lib/harness.mjs'
import { startServerProcess } from './lib/server-process.mjs'

const count = 10_000
const rounds = 3
const sockets = 256
const client = new URL('./lib/storm-client.mjs', import.meta.url).pathname
const variants = [
  { name: 'client.fetch', label: 'ours (client.fetch)', key: 'ours' },
  { name: 'ky + README refresh hook', label: 'ky README recipe' },
  { name: 'axios-auth-refresh', label: 'axios-auth-refresh' },
].map((variant) => ({ ...variant, runs: [] }))

const server = await startServerProcess()
for (let round = 0; round < rounds; round++) {
  for (const variant of rotate(variants, round)) {
    const { token } = await server.call('mint')
    await server.call('revoke', { token })
    await server.call('reset')
    const outcome = lastJsonLine(
      await runNodeAsync([client, variant.name, server.origin, server.tokenUrl, token, String(count), String(sockets)]),
    )
    const { tokenCalls, apiHits, connections } = await server.call('stats')
    const run = { tokenCalls, apiHits, ...outcome }
    variant.runs.push(run)
    const failures = Object.entries(run.failures).map(([reason, n]) => `${n} ${reason}`)
    log(
      `storm round ${round + 1}/${rounds}, ${variant.label}: ${tokenCalls} token calls, ${apiHits} hits, ` +
        `${run.succeeded} succeeded${failures.length > 0 ? ` (failed: ${failures.join(', ')})` : ''}, ` +
        `${Math.round(run.ms)} ms, ${connections} new connections`,
    )
  }
}
await server.close()

const ours = figures(variants[0])
const rows = []
for (const variant of variants) {
  const figure = figures(variant)
  const prefix = `storm, ${count.toLocaleString('en-US')} requests on a revoked token: ${variant.label}`
  const suffix = variant === variants[0] ? '' : ' (vs ours)'
  const key = (figure) => (variant.key === undefined ? null : `storm.${variant.key}.${figure}`)
  rows.push(
    row(`${prefix}, token-endpoint calls${suffix}`, figure.tokenCalls, 'calls', ours.tokenCalls, key('token-calls')),
  )
  rows.push(row(`${prefix}, API hits${suffix}`, figure.apiHits, 'hits', ours.apiHits, key('api-hits')))
  rows.push(row(`${prefix}, succeeded${suffix}`, figure.succeeded, 'requests', ours.succeeded, key('succeeded')))
  rows.push(row(`${prefix}, time${suffix}`, figure.ms, 'ms', ours.ms))
}
emit(rows)

function figures(variant) {
  const of = (key) => median(variant.runs.map((run) => run[key]))
  return { tokenCalls: of('tokenCalls'), apiHits: of('apiHits'), succeeded: of('succeeded'), ms: of('ms') }
}
