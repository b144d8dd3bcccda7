import { metrics, SpanStatusCode, trace } from '@opentelemetry/api'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  AuthError,
  createRegistry,
  createTokenProvider,
  createTokenPushHandler,
  RefreshingClient,
  type TokenProvider,
} from '../../src/index.js'
import { instrument } from '../../src/otel.js'
import { mint } from '../helpers/jwt.js'
import { startOtel } from '../helpers/otel.js'
import { startApiServer } from '../helpers/servers.js'

function harness() {
  const otel = startOtel()
  onTestFinished(() => otel.shutdown())
  return { otel, options: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider } }
}

/** A fetchToken that answers from a script: a token, or a thrown error. */
function scripted(script: (string | Error)[]) {
  let calls = 0
  const fetchToken = async () => {
    const next = script[calls++ % script.length] as string | Error
    if (next instanceof Error) throw next
    return { accessToken: `${next}-${calls}`, expiresIn: 3600 }
  }
  return { fetchToken, calls: () => calls }
}

const refreshes = 'refreshing_client.refreshes'

describe('instrument(provider)', () => {
  it('records each token request with its outcome, reason, duration and one span', async () => {
    const { otel, options } = harness()
    const source = scripted(['token-secret', new AuthError('down', { code: 'ERR_TOKEN_SOURCE' }), 'token-secret'])
    const tokens = createTokenProvider({ name: 'svc', fetchToken: source.fetchToken })
    onTestFinished(() => tokens.dispose())
    const stop = instrument(tokens, options)
    onTestFinished(stop)
    await tokens.getToken()
    await expect(tokens.refresh()).rejects.toThrow()
    await tokens.refresh()
    expect(await otel.sum(refreshes, { provider: 'svc', outcome: 'success', reason: 'initial' })).toBe(1)
    expect(await otel.sum(refreshes, { provider: 'svc', outcome: 'failure', reason: 'manual' })).toBe(1)
    expect(await otel.sum(refreshes, { provider: 'svc', outcome: 'success', reason: 'manual' })).toBe(1)
    expect(await otel.sum('refreshing_client.refresh.duration', { provider: 'svc' })).toBe(3)
    const points = await otel.points('refreshing_client.refresh.duration')
    expect(points.map((point) => Object.keys(point.attributes).sort())).toStrictEqual([
      ['outcome', 'provider', 'reason'],
      ['outcome', 'provider', 'reason'],
      ['outcome', 'provider', 'reason'],
    ])
    const spans = otel.spans()
    expect(spans.map((span) => [span.name, span.status.code, span.attributes])).toStrictEqual([
      ['refreshing_client.refresh', SpanStatusCode.UNSET, { provider: 'svc', reason: 'initial' }],
      [
        'refreshing_client.refresh',
        SpanStatusCode.ERROR,
        { provider: 'svc', reason: 'manual', 'error.type': 'ERR_TOKEN_SOURCE' },
      ],
      ['refreshing_client.refresh', SpanStatusCode.UNSET, { provider: 'svc', reason: 'manual' }],
    ])
    expect(spans[1]?.status.message).toBe('ERR_TOKEN_SOURCE')
    const [gauge] = await otel.points('refreshing_client.token.time_to_expiry')
    expect(gauge?.attributes).toStrictEqual({ provider: 'svc' })
    expect(gauge?.value as number).toBeGreaterThan(3590)
    expect(gauge?.value as number).toBeLessThanOrEqual(3600)
    expect(await otel.exported()).not.toContain('token-secret')

    stop()
    stop() // idempotent
    await tokens.refresh()
    expect(await otel.sum(refreshes, { provider: 'svc' })).toBe(3)
    expect(otel.spans().length).toBe(3)
    expect(source.calls()).toBe(4)
  })

  it('names a failing foreign error by its class only, and stops once the provider is disposed', async () => {
    const { otel, options } = harness()
    const tokens = createTokenProvider({
      fetchToken: scripted([new TypeError('https://u:p4ssw0rd@auth.example.com failed')]).fetchToken,
    })
    onTestFinished(() => tokens.dispose())
    onTestFinished(instrument(tokens, options))
    await expect(tokens.getToken()).rejects.toThrow()
    const [span] = otel.spans()
    expect(span?.attributes).toStrictEqual({ reason: 'initial', 'error.type': 'TypeError' }) // unnamed: no provider
    expect(await otel.exported()).not.toContain('p4ssw0rd')
    tokens.dispose()
    expect(await otel.points('refreshing_client.token.time_to_expiry')).toStrictEqual([])
  })

  it('uses the global providers by default', async () => {
    const { otel } = harness()
    metrics.setGlobalMeterProvider(otel.meterProvider)
    trace.setGlobalTracerProvider(otel.tracerProvider)
    onTestFinished(() => {
      metrics.disable()
      trace.disable()
    })
    const tokens = createTokenProvider({ name: 'global', fetchToken: scripted(['t']).fetchToken })
    onTestFinished(() => tokens.dispose())
    onTestFinished(instrument(tokens))
    await tokens.getToken()
    expect(await otel.sum(refreshes, { provider: 'global', outcome: 'success' })).toBe(1)
    expect(otel.spans().length).toBe(1)
  })

  it('refuses what it cannot instrument', () => {
    expect(() => instrument({} as TokenProvider)).toThrow(
      'instrument needs a TokenProvider, a TokenRegistry or a RefreshingClient',
    )
    const tokens = createTokenProvider({})
    onTestFinished(() => tokens.dispose())
    expect(() => instrument(tokens, null as never)).toThrow('instrument options must be an object')
    expect(() => instrument(tokens, { meterProvider: {} as never })).toThrow('meterProvider must be a MeterProvider')
    expect(() => instrument(tokens, { tracerProvider: {} as never })).toThrow('tracerProvider must be a TracerProvider')
  })
})

describe('instrument(client)', () => {
  it("counts this client's replays, not another client's of the same provider, and its provider's refreshes", async () => {
    const { otel, options } = harness()
    const api = await startApiServer()
    const tokens = createTokenProvider({ name: 'agent', fetchToken: () => mint() })
    onTestFinished(() => tokens.dispose())
    const client = new RefreshingClient({ tokens, baseUrl: api.origin })
    const other = new RefreshingClient({ tokens, baseUrl: api.origin })
    onTestFinished(instrument(client, options))
    expect((await client.fetch('/a')).status).toBe(200)
    api.revoked.add(await tokens.getToken())
    expect((await client.fetch('/b')).status).toBe(200)
    api.revoked.add(await tokens.getToken())
    expect((await other.fetch('/c')).status).toBe(200)
    expect(await otel.sum('refreshing_client.replays')).toBe(1)
    const [replays] = await otel.points('refreshing_client.replays')
    expect(replays?.attributes).toStrictEqual({ provider: 'agent' })
    expect(await otel.sum(refreshes, { provider: 'agent', outcome: 'success', reason: 'unauthorized' })).toBe(2)
    expect(await otel.sum(refreshes, { provider: 'agent' })).toBe(3)
  })
})

describe('instrument(registry)', () => {
  it('covers scopes made before and after, stops for a disposed scope, and counts pushes', async () => {
    const { otel, options } = harness()
    const registry = createRegistry()
    onTestFinished(() => registry.dispose())
    const early = registry.scope('early', { fetchToken: scripted(['e']).fetchToken })
    onTestFinished(instrument(registry, options))
    // A shared provider outlives its scope: after the scope is gone, its refreshes are not ours.
    const shared = createTokenProvider({ name: 'shared', fetchToken: scripted(['s']).fetchToken })
    onTestFinished(() => shared.dispose())
    const late = registry.scope('late', { tokens: shared })
    await early.tokens.getToken()
    await late.tokens.getToken()
    expect(await otel.sum(refreshes, { provider: 'early' })).toBe(1)
    expect(await otel.sum(refreshes, { provider: 'late' })).toBe(1)
    late.dispose()
    await shared.refresh()
    expect(await otel.sum(refreshes, { provider: 'late' })).toBe(1)
    expect(await otel.sum(refreshes, { provider: 'shared' })).toBe(0)

    const push = createTokenPushHandler({
      registry,
      scopeId: (request) => new URL(request.url).searchParams.get('scope') ?? undefined,
    })
    const send = async (scope: string) =>
      push(
        new Request(`http://127.0.0.1/push?scope=${scope}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token: await mint({ sub: scope, lifetimeMs: 7_200_000 }) }),
        }),
      )
    expect((await send('early')).status).toBe(204)
    expect((await send('nobody')).status).toBe(404)
    const pushes = await otel.points('refreshing_client.pushes')
    expect(pushes.map((point) => [point.attributes, point.value])).toStrictEqual([
      [{ provider: 'early', status: 204 }, 1],
      [{ status: 404 }, 1],
    ])
    expect(await otel.exported()).not.toMatch(/eyJ/) // no JWT anywhere
  })

  it("counts the replays of every scope's clients", async () => {
    const { otel, options } = harness()
    const api = await startApiServer()
    const registry = createRegistry()
    onTestFinished(() => registry.dispose())
    onTestFinished(instrument(registry, options))
    for (const id of ['a', 'b']) {
      const scope = registry.scope(id, { fetchToken: () => mint({ sub: id }) })
      const client = scope.client({ baseUrl: api.origin })
      api.revoked.add(await scope.tokens.getToken())
      expect((await client.fetch('/x')).status).toBe(200)
    }
    const replays = await otel.points('refreshing_client.replays')
    expect(replays.map((point) => [point.attributes['provider'], point.value])).toStrictEqual([
      ['a', 1],
      ['b', 1],
    ])
  })
})
