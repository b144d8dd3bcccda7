// Overhead without network: client.fetch over a stub fetch that returns a prebuilt Response,
// against calling the stub itself with the same arguments. Both run in the same process, in
// interleaved rounds (A, B, B, A, …); the medians of the per-call times and of the per-round
// differences are reported.
import { distEntry, emit, log, median, nowNs, rotate, row } from './lib/harness.mjs'
import { mint } from './lib/jwt.mjs'

const { RefreshingClient } = await import(distEntry)

const rounds = 40
const calls = 50_000
const origin = 'http://127.0.0.1:9'

const prebuilt = new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } })
let lastInit
const stub = (_input, init) => {
  lastInit = init
  return Promise.resolve(prebuilt)
}
const token = await mint()
const client = new RefreshingClient({
  tokens: { initialToken: token, fetchToken: async () => mint() },
  baseUrl: origin,
  fetch: stub,
})

// The stub is called as a caller would call fetch with the header written by hand; the client as
// a caller would call it. The POST case adds a JSON body and a header of the caller's.
const bearer = `Bearer ${token}`
const body = JSON.stringify({ status: 'idle', load: 0.25 })
const cases = [
  {
    label: 'GET',
    baseline: () => stub(`${origin}/v1/items`, { headers: { authorization: bearer } }),
    ours: () => client.fetch('/v1/items'),
  },
  {
    label: 'POST with a JSON body',
    baseline: () =>
      stub(`${origin}/v1/agents/7/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: bearer },
        body,
      }),
    ours: () =>
      client.fetch('/v1/agents/7/heartbeat', { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
  },
]

async function perCall(fn) {
  const start = nowNs()
  for (let i = 0; i < calls; i++) await fn()
  return (nowNs() - start) / calls
}

const rows = []
for (const { label, baseline, ours } of cases) {
  const response = await ours()
  if (response !== prebuilt) throw new Error('client.fetch did not return the stub response')
  if (new Headers(lastInit.headers).get('authorization') !== bearer) throw new Error('client.fetch sent no token')
  const variants = [
    { fn: baseline, samples: [] },
    { fn: ours, samples: [] },
  ]
  for (let warm = 0; warm < 10; warm++) for (const variant of variants) await perCall(variant.fn)
  for (let round = 0; round < rounds; round++) {
    for (const variant of rotate(variants, round)) variant.samples.push(await perCall(variant.fn))
  }
  const [stubNs, oursNs] = variants.map((variant) => median(variant.samples))
  const addedNs = median(variants[1].samples.map((ns, i) => ns - variants[0].samples[i]))
  log(
    `overhead ${label}: stub ${stubNs.toFixed(0)} ns, client.fetch ${oursNs.toFixed(0)} ns, +${addedNs.toFixed(0)} ns`,
  )
  rows.push(row(`overhead, ${label}: stub fetch (prebuilt Response)`, stubNs, 'ns/call', stubNs))
  rows.push(row(`overhead, ${label}: client.fetch over the stub`, oursNs, 'ns/call', stubNs))
  rows.push(
    row(`overhead, ${label}: added by client.fetch (median of per-round differences)`, addedNs, 'ns/call', stubNs),
  )
}
client.dispose()
emit(rows)
