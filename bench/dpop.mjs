// The per-request cost of DPoP next to the bearer overhead, without network: client.fetch over a
// stub fetch that returns a prebuilt Response, bearer and DPoP (ES256 and EdDSA proofs, signed with
// WebCrypto through jose), against calling the stub itself. Interleaved rounds, medians, as in
// overhead.mjs; the baseline of every row is the stub's own time.
import { distEntry, emit, log, median, row } from './lib/harness.mjs'
import { interleave, medianDifference, perCall, stubFetch } from './lib/interleave.mjs'
import { mint } from './lib/jwt.mjs'

const { RefreshingClient, createDPoP } = await import(distEntry)

const rounds = 15
const callsBearer = 20_000
const callsDPoP = 1_000
const origin = 'http://127.0.0.1:9'

const stub = stubFetch()
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
  { label: 'client.fetch, bearer', key: 'bearer', fn: () => bearer.fetch('/v1/items'), calls: callsBearer },
  { label: 'client.fetch, DPoP ES256', fn: () => es256.fetch('/v1/items'), calls: callsDPoP },
  { label: 'client.fetch, DPoP EdDSA', fn: () => eddsa.fetch('/v1/items'), calls: callsDPoP },
].map((variant) => ({ ...variant, samples: [] }))

for (const client of [es256, eddsa]) {
  await client.fetch('/v1/items')
  const headers = new Headers(stub.lastInit.headers)
  if (!/^DPoP /.test(headers.get('authorization') ?? '')) throw new Error('no DPoP token sent')
  if (headers.get('dpop') === null) throw new Error('no DPoP proof sent')
}
await interleave(variants, { rounds, warmup: 3, measure: ({ fn, calls }) => perCall(fn, calls) })
const stubNs = median(variants[0].samples)
const rows = []
for (const variant of variants) {
  const ns = median(variant.samples)
  const addedNs = medianDifference(variant.samples, variants[0].samples)
  log(`dpop ${variant.label}: ${ns.toFixed(0)} ns/call, +${addedNs.toFixed(0)} ns over the stub`)
  rows.push(row(`dpop, GET: ${variant.label}`, ns, 'ns/call', stubNs))
  if (variant !== variants[0])
    rows.push(
      row(
        `dpop, GET: added by ${variant.label.slice(14)}`,
        addedNs,
        'ns/call',
        stubNs,
        variant.key === undefined ? null : `dpop.${variant.key}.added`,
      ),
    )
}
for (const client of made) client.dispose()
emit(rows)
