// The per-request cost of DPoP next to the bearer overhead, without network: client.fetch over a
// stub fetch that returns a prebuilt Response, bearer and DPoP (ES256 and EdDSA proofs, signed with
// WebCrypto through jose), against calling the stub itself. Interleaved rounds, medians, as in
// overhead.mjs; the baseline of every row is the stub's own time.
import { distEntry, emit, log, median, nowNs, rotate, row } from './lib/harness.mjs'
import { mint } from './lib/jwt.mjs'

const { RefreshingClient, createDPoP } = await import(distEntry)

const rounds = 15
const callsBearer = 20_000
const callsDPoP = 1_000
const origin = 'http://127.0.0.1:9'

const prebuilt = new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } })
let lastInit
const stub = (_input, init) => {
  lastInit = init
  return Promise.resolve(prebuilt)
}
const token = await mint()
const made = []
const clientWith = (dpop) => {
  const client = new RefreshingClient({
    tokens: { initialToken: token, fetchToken: async () => mint() },
    baseUrl: origin,
    fetch: stub,
    ...(dpop === undefined ? {} : { dpop }),
  })
  made.push(client)
  return client
}
const bearer = clientWith()
const es256 = clientWith(await createDPoP({ algorithm: 'ES256' }))
const eddsa = clientWith(await createDPoP({ algorithm: 'EdDSA' }))

const auth = `Bearer ${token}`
const variants = [
  {
    label: 'stub fetch (prebuilt Response)',
    fn: () => stub(`${origin}/v1/items`, { headers: { authorization: auth } }),
    calls: callsBearer,
  },
  { label: 'client.fetch, bearer', fn: () => bearer.fetch('/v1/items'), calls: callsBearer },
  { label: 'client.fetch, DPoP ES256', fn: () => es256.fetch('/v1/items'), calls: callsDPoP },
  { label: 'client.fetch, DPoP EdDSA', fn: () => eddsa.fetch('/v1/items'), calls: callsDPoP },
].map((variant) => ({ ...variant, samples: [] }))

async function perCall({ fn, calls }) {
  const start = nowNs()
  for (let i = 0; i < calls; i++) await fn()
  return (nowNs() - start) / calls
}

for (const client of [es256, eddsa]) {
  await client.fetch('/v1/items')
  if (!/^DPoP /.test(new Headers(lastInit.headers).get('authorization') ?? '')) throw new Error('no DPoP token sent')
  if (new Headers(lastInit.headers).get('dpop') === null) throw new Error('no DPoP proof sent')
}
for (let warm = 0; warm < 3; warm++) for (const variant of variants) await perCall(variant)
for (let round = 0; round < rounds; round++) {
  for (const variant of rotate(variants, round)) variant.samples.push(await perCall(variant))
}
const stubNs = median(variants[0].samples)
const rows = []
for (const variant of variants) {
  const ns = median(variant.samples)
  const addedNs = median(variant.samples.map((value, i) => value - variants[0].samples[i]))
  log(`dpop ${variant.label}: ${ns.toFixed(0)} ns/call, +${addedNs.toFixed(0)} ns over the stub`)
  rows.push(row(`dpop, GET: ${variant.label}`, ns, 'ns/call', stubNs))
  if (variant !== variants[0])
    rows.push(row(`dpop, GET: added by ${variant.label.slice(14)}`, addedNs, 'ns/call', stubNs))
}
for (const client of made) client.dispose()
emit(rows)
