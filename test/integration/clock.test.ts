import { describe, expect, it, onTestFinished } from 'vitest'
import { clientCredentials, createTokenProvider, RefreshingClient, type TokenProviderEvents } from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { startApiServer, startServer } from '../helpers/servers.js'
import { startTokenServer } from '../helpers/token-server.js'

// The issuer and the API share the real clock; the provider's clock is `offsetMs` off it, as on a
// laptop after sleep or a VM without NTP. The API checks `exp` on its own (the issuer's) clock with
// no tolerance. Every case runs at once, in real time, over several token lifetimes.
const second = 1_000
const hour = 3_600 * second
const lifetimeMs = 8 * second
const runMs = 20 * second
const callEveryMs = 200

type Source = 'bare JWT' | 'clientCredentials'

interface Outcome {
  offsetMs: number
  source: Source
  tokenRequests: number
  calls: number
  failedCalls: number
  /** Fresh tokens the provider refused as "already expired". */
  refused: number
  /** Requests that reached the API with a token past its `exp`. */
  expiredSent: number
  estimates: (number | undefined)[]
}

async function run(offsetMs: number, source: Source): Promise<Outcome> {
  const api = await startApiServer()
  let fetchToken: NonNullable<Parameters<typeof createTokenProvider>[0]['fetchToken']>
  let tokenRequests: () => number
  if (source === 'bare JWT') {
    // A source of our own making: the provider sees the JWT and nothing else (no Date header).
    const issuer = await startServer(async (_, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.end(`${await mint({ sub: 'agent', lifetimeMs })}\n`)
    })
    tokenRequests = () => issuer.hits.length
    fetchToken = async ({ signal }) => (await fetch(issuer.url('/token'), { method: 'POST', signal })).text()
  } else {
    // An OAuth2 endpoint: `expires_in`, and node:http's `Date` header on the issuer's clock.
    const server = await startTokenServer(async () => ({
      body: { access_token: await mint({ sub: 'agent', lifetimeMs }), token_type: 'Bearer', expires_in: 8 },
    }))
    tokenRequests = () => server.hits.length
    fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'agent', clientSecret: 's', retry: 0 })
  }
  const tokens = createTokenProvider({ name: `${source} ${offsetMs}`, fetchToken, now: () => Date.now() + offsetMs })
  onTestFinished(() => tokens.dispose())
  const estimates: (number | undefined)[] = []
  tokens.on('token', (event: TokenProviderEvents['token']) => estimates.push(event.clockOffsetMs))
  let refused = 0
  tokens.on('error', ({ error }) => {
    if (/already expired/.test(error.message)) refused++
  })
  const client = new RefreshingClient({ tokens, baseUrl: api.origin })
  let calls = 0
  let failedCalls = 0
  const deadline = Date.now() + runMs
  while (Date.now() < deadline) {
    calls++
    const status = await client.fetch('/work').then(
      (response) => response.status,
      () => 0,
    )
    if (status !== 200) failedCalls++
    await new Promise((resolve) => setTimeout(resolve, callEveryMs))
  }
  // Every 401 at this API is a token sent past its exp: nothing else is refused here.
  const expiredSent = api.hits.filter((hit) => hit.headers.authorization !== undefined).length - (calls - failedCalls)
  return { offsetMs, source, tokenRequests: tokenRequests(), calls, failedCalls, refused, expiredSent, estimates }
}

describe('a local clock off the issuer’s', () => {
  const offsets = [-hour, -50 * second, 0, 50 * second, 180 * second, hour]
  const sources: Source[] = ['bare JWT', 'clientCredentials']

  it('makes as many token requests as with a correct clock (±1), refuses no fresh token and sends no expired one', async () => {
    const outcomes = await Promise.all(sources.flatMap((source) => offsets.map((offset) => run(offset, source))))
    for (const source of sources) {
      const baseline = outcomes.find((o) => o.source === source && o.offsetMs === 0) as Outcome
      // 20 s of 8-second tokens refreshed at 80% of their lifetime: the first, then 3 or 4 more.
      expect(baseline.tokenRequests).toBeGreaterThanOrEqual(3)
      expect(baseline.tokenRequests).toBeLessThanOrEqual(6)
      // A correct clock keeps 0.1's schedule: its estimate is exactly 0.
      expect(new Set(baseline.estimates)).toEqual(new Set([0]))
      for (const outcome of outcomes.filter((o) => o.source === source)) {
        const { offsetMs, tokenRequests, calls, failedCalls, refused, expiredSent, estimates } = outcome
        expect({ offsetMs, source, failedCalls, refused, expiredSent }).toEqual({
          offsetMs,
          source,
          failedCalls: 0,
          refused: 0,
          expiredSent: 0,
        })
        expect(calls).toBeGreaterThan(50)
        expect(Math.abs(tokenRequests - baseline.tokenRequests)).toBeLessThanOrEqual(1)
        // The estimate (issuer − local) is within the evidence's second, on the safe side.
        for (const estimate of estimates) {
          expect(estimate).toBeGreaterThanOrEqual(-offsetMs - 50)
          expect(estimate).toBeLessThanOrEqual(-offsetMs + 1_500)
        }
      }
    }
  }, 60_000)
})
