import { createServer } from 'node:http'
import { SpanStatusCode } from '@opentelemetry/api'
import { expect, it, onTestFinished, vi } from 'vitest'
import { createHealthHandler, createRegistry, type RegistryHealth } from '../../src/index.js'
import { toNodeHandler } from '../../src/node.js'
import { instrument } from '../../src/otel.js'
import { mint } from '../helpers/jwt.js'
import { listen } from '../helpers/listen.js'
import { startOtel } from '../helpers/otel.js'
import { json, startApiServer, startServer } from '../helpers/servers.js'

// DESIGN §7.5's acceptance, in real time, read back through the OpenTelemetry SDK's in-memory
// exporters: a token endpoint issuing 2-second tokens that answers 503 for 3 s and then recovers,
// one revocation at the API, and a readiness endpoint on a real node:http server polled throughout.
// fetchToken is a plain fetch, so each 503 is exactly one attempt of the provider (the OAuth2
// sources retry 5xx inside ky, which the endpoint would count but the provider would not).

const clientSecret = 'client-secret-3f9a1c77'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

it('counts every token request, replay and failure exactly, and readiness follows the token', async () => {
  let outage = false
  const answered = { ok: 0, unavailable: 0 }
  const secrets: string[] = [clientSecret]
  const issuer = await startServer(async (hit, response) => {
    if (!new URLSearchParams(hit.body.toString()).get('client_secret')?.startsWith(clientSecret)) {
      return json(response, 401, { error: 'invalid_client' })
    }
    if (outage) {
      answered.unavailable++
      return json(response, 503, { error: 'temporarily_unavailable' })
    }
    answered.ok++
    const accessToken = await mint({ sub: 'agent-7', lifetimeMs: 2_000 })
    const refreshToken = `refresh-${answered.ok}-${crypto.randomUUID()}`
    secrets.push(accessToken, refreshToken)
    json(response, 200, { access_token: accessToken, refresh_token: refreshToken, token_type: 'Bearer' })
  })
  const api = await startApiServer()
  const otel = startOtel()
  onTestFinished(() => otel.shutdown())

  const registry = createRegistry()
  onTestFinished(() => registry.dispose())
  const stop = instrument(registry, { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider })
  onTestFinished(stop)
  // Created after instrument(): a later scope is covered too.
  const scope = registry.scope('agent-7', {
    fetchToken: async ({ signal }) => {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'agent-7',
        client_secret: clientSecret,
      })
      const response = await fetch(issuer.url('/token'), { method: 'POST', body, signal })
      if (!response.ok) throw new Error(`token endpoint answered ${response.status}`)
      const answer = (await response.json()) as { access_token: string; refresh_token: string }
      return { accessToken: answer.access_token, refreshToken: answer.refresh_token } as never
    },
    retry: { baseDelayMs: 100, maxDelayMs: 400 },
    minRefreshIntervalMs: 100,
  })
  const client = scope.client({ baseUrl: api.origin })

  const health = await listen(createServer(toNodeHandler(createHealthHandler(registry))))
  const readyz = `${health.origin}/readyz`
  const probes: { at: number; status: number; body: string; cacheControl: string | null }[] = []
  expect((await client.fetch('/a')).status).toBe(200)
  let probing = true
  const prober = (async () => {
    while (probing) {
      const response = await fetch(readyz)
      probes.push({
        at: Date.now(),
        status: response.status,
        body: await response.text(),
        cacheControl: response.headers.get('cache-control'),
      })
      await sleep(50)
    }
  })()
  // One revocation at the API: the next request is refused, refreshed for, and replayed once.
  api.revoked.add((scope.tokens.current as { accessToken: string }).accessToken)
  expect((await client.fetch('/b')).status).toBe(200)
  await vi.waitFor(() => expect(scope.tokens.state).toBe('fresh'))
  await sleep(200) // a few probes while healthy

  outage = true
  const lastExpiresAt = scope.tokens.health().expiresAt as number
  await sleep(3_000)
  outage = false
  const recoveredAt = Date.now()
  await vi.waitFor(() => expect(probes.at(-1)?.status).toBe(200), { timeout: 5_000, interval: 20 })
  await vi.waitFor(() => expect(scope.tokens.state).toBe('fresh'), { timeout: 5_000, interval: 5 })
  // No token request is in flight now ('fresh'): the endpoint's counts and ours must agree.
  const { ok, unavailable } = answered
  stop()
  probing = false
  await prober

  const refreshes = 'refreshing_client.refreshes'
  expect(await otel.sum(refreshes, { provider: 'agent-7', outcome: 'success' })).toBe(ok)
  expect(await otel.sum(refreshes, { provider: 'agent-7', outcome: 'failure' })).toBe(unavailable)
  expect(await otel.sum(refreshes, { reason: 'unauthorized', outcome: 'success' })).toBe(1)
  expect(await otel.sum('refreshing_client.refresh.duration', { provider: 'agent-7' })).toBe(ok + unavailable)
  expect(await otel.sum('refreshing_client.replays', { provider: 'agent-7' })).toBe(1)
  const spans = otel.spans().filter((span) => span.name === 'refreshing_client.refresh')
  expect(spans.length).toBe(ok + unavailable)
  expect(spans.filter((span) => span.status.code === SpanStatusCode.ERROR).length).toBe(unavailable)
  expect(spans.filter((span) => span.status.code === SpanStatusCode.UNSET).length).toBe(ok)
  expect(spans.every((span) => span.attributes['provider'] === 'agent-7')).toBe(true)
  // The outage was long enough to fail several attempts and let the token expire.
  expect(unavailable).toBeGreaterThanOrEqual(3)
  expect(ok).toBeGreaterThanOrEqual(3)

  // Nothing exported, and no probe answer, carries a token, a refresh token or the client secret.
  const exported = await otel.exported()
  const answers = probes.map((probe) => probe.body).join('\n')
  for (const secret of secrets) {
    expect(exported.includes(secret)).toBe(false)
    expect(answers.includes(secret)).toBe(false)
    expect(exported.includes(secret.split('.').at(-1) as string)).toBe(false) // not even a JWT's signature
  }

  // Readiness: 200, then 503 within a second of the token expiring in the outage, then 200 within
  // a second of the endpoint's recovery.
  const firstDown = probes.findIndex((probe) => probe.status === 503)
  const backUp = probes.findIndex((probe, i) => i > firstDown && probe.status === 200)
  expect(probes[0]?.status).toBe(200)
  expect(firstDown).toBeGreaterThan(0)
  expect(backUp).toBeGreaterThan(firstDown)
  expect(probes.every((probe) => probe.cacheControl === 'no-store')).toBe(true)
  const down = probes[firstDown] as (typeof probes)[number]
  const up = probes[backUp] as (typeof probes)[number]
  const body = JSON.parse(down.body) as RegistryHealth
  expect(body.healthy).toBe(false)
  expect(body.scopes['agent-7']?.healthy).toBe(false)
  expect(body.scopes['agent-7']?.consecutiveFailures).toBeGreaterThanOrEqual(1)
  expect(body.scopes['agent-7']?.lastErrorCode).toBe('ERR_REFRESH')
  console.info(
    `otel acceptance: ${ok} answers 200, ${unavailable} answers 503, replays 1; ` +
      `503 at ${down.at - lastExpiresAt} ms from expiry, 200 at ${up.at - recoveredAt} ms after recovery`,
  )
  expect(Math.abs(down.at - lastExpiresAt)).toBeLessThanOrEqual(1_000)
  expect(up.at - recoveredAt).toBeLessThanOrEqual(1_000)
}, 30_000)
