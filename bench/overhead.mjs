// Overhead without network: client.fetch over a stub fetch that returns a prebuilt Response,
// against calling the stub itself with the same arguments. Both run in the same process, in
// interleaved rounds (A, B, B, A, …); the medians of the per-call times and of the per-round
// differences are reported.
import { distEntry, emit, log, median, row } from './lib/harness.mjs'
import { interleave, medianDifference, perCall, stubFetch } from './lib/interleave.mjs'
import { mint } from './lib/jwt.mjs'

const { RefreshingClient } = await import(distEntry)

const rounds = 40
const calls = 50_000
const origin = 'http://127.0.0.1:9'

const stub = stubFetch()
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
    key: 'get',
    baseline: () => stub(`${origin}/v1/items`, { headers: { authorization: bearer } }),
    ours: () => client.fetch('/v1/items'),
  },
  {
    label: 'POST with a JSON body',
    key: 'post-json',
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

const rows = []
for (const { label, key, baseline, ours } of cases) {
  const response = await ours()
  if (response !== stub.response) throw new Error('client.fetch did not return the stub response')
  if (new Headers(stub.lastInit.headers).get('authorization') !== bearer) throw new Error('client.fetch sent no token')
  const variants = [
    { fn: baseline, samples: [] },
    { fn: ours, samples: [] },
  ]
  await interleave(variants, { rounds, warmup: 10, measure: (variant) => perCall(variant.fn, calls) })
  const [stubNs, oursNs] = variants.map((variant) => median(variant.samples))
  const addedNs = medianDifference(variants[1].samples, variants[0].samples)
  log(
    `overhead ${label}: stub ${stubNs.toFixed(0)} ns, client.fetch ${oursNs.toFixed(0)} ns, +${addedNs.toFixed(0)} ns`,
  )
  rows.push(row(`overhead, ${label}: stub fetch (prebuilt Response)`, stubNs, 'ns/call', stubNs))
  rows.push(row(`overhead, ${label}: client.fetch over the stub`, oursNs, 'ns/call', stubNs))
  rows.push(
    row(
      `overhead, ${label}: added by client.fetch (median of per-round differences)`,
      addedNs,
      'ns/call',
      stubNs,
      `overhead.${key}.added`,
    ),
  )
}
client.dispose()
emit(rows)
