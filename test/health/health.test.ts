import { describe, expect, it, onTestFinished } from 'vitest'
import {
  AuthError,
  createHealthHandler,
  createRegistry,
  createTokenProvider,
  type RegistryHealth,
  type TokenHealth,
  type TokenProvider,
} from '../../src/index.js'

const T0 = Date.UTC(2026, 0, 1)

/** A clock the test moves by hand. */
function clock() {
  const state = { now: T0 }
  return { state, now: () => state.now }
}

function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** A provider of another (older) copy of the library: the 0.1 shape, without `health()`. */
function olderCopy(provider: TokenProvider): TokenProvider {
  return {
    getToken: (options) => provider.getToken(options),
    getTokenSet: (options) => provider.getTokenSet(options),
    get current() {
      return provider.current
    },
    get state() {
      return provider.state
    },
    refresh: (options) => provider.refresh(options),
    setToken: (token) => provider.setToken(token),
    invalidate: (token) => provider.invalidate(token),
    on: (type, handler) => provider.on(type, handler),
    dispose: () => provider.dispose(),
    [Symbol.dispose]: () => provider.dispose(),
  } as Omit<TokenProvider, 'health'> as TokenProvider
}

describe('provider.health()', () => {
  it('reports an empty, then a pushed, then an expired token, and nothing else', () => {
    const { state, now } = clock()
    const tokens = createTokenProvider({ name: 'agent-7', now, refreshJitterRatio: 0 })
    onTestFinished(() => tokens.dispose())
    expect(tokens.health()).toStrictEqual({ state: 'empty', healthy: false, consecutiveFailures: 0 })
    tokens.setToken({ accessToken: 'opaque-secret-token', expiresIn: 100 })
    // 100 s: lead min(60 s, 20 s) = 20 s, skew 10 s; a push is not a refresh.
    expect(tokens.health()).toStrictEqual({
      state: 'fresh',
      healthy: true,
      consecutiveFailures: 0,
      expiresAt: T0 + 100_000,
      refreshAt: T0 + 80_000,
    })
    state.now = T0 + 89_999
    expect(tokens.health()).toMatchObject({ state: 'stale', healthy: true })
    state.now = T0 + 90_000
    expect(tokens.health()).toMatchObject({ state: 'expired', healthy: false, expiresAt: T0 + 100_000 })
    tokens.dispose()
    expect(tokens.health()).toStrictEqual({ state: 'disposed', healthy: false, consecutiveFailures: 0 })
  })

  it('counts failures since the last success, with the latest code, and clears them with it', async () => {
    const { state, now } = clock()
    const answers: (() => Promise<unknown>)[] = [
      async () => ({ accessToken: 'first-secret', expiresIn: 3600 }),
      async () => {
        throw new Error('503')
      },
      async () => {
        throw new AuthError('the token source is down', { code: 'ERR_TOKEN_SOURCE' })
      },
      async () => ({ accessToken: 'second-secret', expiresIn: 3600 }),
    ]
    const tokens = createTokenProvider({
      name: 'agent-7',
      now,
      refreshJitterRatio: 0,
      fetchToken: () => (answers.shift() as () => Promise<never>)(),
      retry: { baseDelayMs: 10_000, maxDelayMs: 10_000 },
    })
    onTestFinished(() => tokens.dispose())
    await tokens.getToken()
    expect(tokens.health()).toMatchObject({ lastRefreshAt: T0, consecutiveFailures: 0 })
    expect(tokens.health().lastErrorCode).toBeUndefined()
    state.now = T0 + 1_000
    await expect(tokens.refresh()).rejects.toThrow('refresh failed (attempt 1)')
    expect(tokens.health()).toMatchObject({ consecutiveFailures: 1, lastErrorCode: 'ERR_REFRESH', lastRefreshAt: T0 })
    await expect(tokens.refresh()).rejects.toThrow('refresh failed (attempt 2)')
    const failing = tokens.health()
    expect(failing).toMatchObject({ state: 'fresh', healthy: true, consecutiveFailures: 2 })
    expect(failing.lastErrorCode).toBe('ERR_TOKEN_SOURCE')
    // The refresh point (48 min) is later than the backoff here; both are "the next refresh".
    expect(failing.refreshAt).toBe(T0 + 2_880_000)
    state.now = T0 + 2_000
    await tokens.refresh()
    const recovered = tokens.health()
    expect(recovered).toMatchObject({ consecutiveFailures: 0, lastRefreshAt: T0 + 2_000 })
    expect('lastErrorCode' in recovered).toBe(false)
    expect(JSON.stringify(recovered)).not.toContain('secret')
  })

  it('stays healthy while a refresh is in flight, and names the backoff as the next refresh', async () => {
    const { state, now } = clock()
    const pending = deferred<{ accessToken: string; expiresIn: number }>()
    const tokens = createTokenProvider({
      now,
      refreshJitterRatio: 0,
      initialToken: { accessToken: 'held-secret', expiresIn: 100 },
      fetchToken: () => pending.promise,
      retry: { baseDelayMs: 50_000, maxDelayMs: 50_000 },
    })
    onTestFinished(() => tokens.dispose())
    state.now = T0 + 85_000
    const refreshing = tokens.refresh()
    expect(tokens.health()).toMatchObject({ state: 'refreshing', healthy: true, expiresAt: T0 + 100_000 })
    pending.reject(new Error('down'))
    await expect(refreshing).rejects.toThrow()
    const health = tokens.health()
    // Backoff of at least 80% of 50 s after the failure at 85 s, later than the refresh point at 80 s.
    expect(health.refreshAt).toBeGreaterThanOrEqual(T0 + 125_000)
    expect(health.refreshAt).toBeLessThanOrEqual(T0 + 135_000)
    state.now = T0 + 90_000
    expect(tokens.health()).toMatchObject({ state: 'expired', healthy: false, consecutiveFailures: 1 })
  })

  it('gives up after a terminal error: no next refresh, still healthy until the token expires', async () => {
    const { now } = clock()
    const tokens = createTokenProvider({
      now,
      initialToken: { accessToken: 'held-secret', expiresIn: 100 },
      fetchToken: async () => {
        throw new AuthError('revoked', { code: 'ERR_TOKEN_SOURCE', terminal: true })
      },
    })
    onTestFinished(() => tokens.dispose())
    await expect(tokens.refresh()).rejects.toThrow()
    expect(tokens.health()).toStrictEqual({
      state: 'failed',
      healthy: true,
      consecutiveFailures: 1,
      expiresAt: T0 + 100_000,
      lastErrorCode: 'ERR_TOKEN_SOURCE',
    })
  })
})

describe('registry.health()', () => {
  it('is healthy only when every scope is, keyed by id, and never once disposed', () => {
    const registry = createRegistry()
    onTestFinished(() => registry.dispose())
    expect(JSON.stringify(registry.health())).toBe('{"healthy":true,"scopes":{}}')
    registry.scope('a', { initialToken: { accessToken: 'a-secret', expiresIn: 3600 } })
    registry.scope('__proto__', { initialToken: { accessToken: 'p-secret', expiresIn: 3600 } })
    let health = registry.health()
    expect(health.healthy).toBe(true)
    expect(Object.keys(health.scopes)).toStrictEqual(['a', '__proto__'])
    registry.scope('b')
    health = registry.health()
    expect(health.healthy).toBe(false)
    expect(health.scopes['b']).toStrictEqual({ state: 'empty', healthy: false, consecutiveFailures: 0 })
    expect(JSON.stringify(health)).toContain('"__proto__":{"state":"fresh","healthy":true')
    expect(JSON.stringify(health)).not.toContain('secret')
    registry.get('b')?.dispose()
    expect(registry.health().healthy).toBe(true)
    registry.dispose()
    expect(JSON.stringify(registry.health())).toBe('{"healthy":false,"scopes":{}}')
  })

  it('reads providers of an older copy from their state and current token', () => {
    const registry = createRegistry()
    onTestFinished(() => registry.dispose())
    const old = olderCopy(createTokenProvider({ initialToken: { accessToken: 'old-secret', expiresIn: 60 } }))
    onTestFinished(() => old.dispose())
    registry.scope('old', { tokens: old })
    const health = registry.health().scopes['old'] as TokenHealth
    expect(health.healthy).toBe(true)
    expect(health.state).toBe('fresh')
    expect(health.consecutiveFailures).toBe(0)
    expect(health.expiresAt).toBe(old.current?.expiresAt)
  })
})

describe('createHealthHandler', () => {
  const get = (method = 'GET') => new Request('http://127.0.0.1/readyz', { method })

  it('answers 200 with the JSON when healthy, 503 when not, never cached', async () => {
    const { state, now } = clock()
    const tokens = createTokenProvider({ now, initialToken: { accessToken: 'held-secret', expiresIn: 100 } })
    onTestFinished(() => tokens.dispose())
    const handler = createHealthHandler(tokens)
    let response = await handler(get())
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('content-type')).toBe('application/json')
    const body = await response.text()
    expect(JSON.parse(body)).toStrictEqual(tokens.health())
    expect(body).not.toContain('held-secret')
    state.now = T0 + 95_000
    response = await handler(get())
    expect(response.status).toBe(503)
    expect(((await response.json()) as TokenHealth).state).toBe('expired')
    response = await handler(get('HEAD'))
    expect(response.status).toBe(503)
    expect(await response.text()).toBe('')
    response = await handler(get('POST'))
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('GET, HEAD')
  })

  it('reports a registry, and one of an older copy without health()', async () => {
    const registry = createRegistry()
    onTestFinished(() => registry.dispose())
    registry.scope('a', { initialToken: { accessToken: 'a-secret', expiresIn: 3600 } })
    const response = await createHealthHandler(registry)(get())
    expect(response.status).toBe(200)
    expect(((await response.json()) as RegistryHealth).scopes['a']?.state).toBe('fresh')
    const older = {
      scope: registry.scope.bind(registry),
      get: registry.get.bind(registry),
      ids: registry.ids.bind(registry),
    } as unknown as Parameters<typeof createHealthHandler>[0]
    registry.scope('b')
    const fallback = await createHealthHandler(older)(get())
    expect(fallback.status).toBe(503)
    expect(Object.keys(((await fallback.json()) as RegistryHealth).scopes)).toStrictEqual(['a', 'b'])
    const oldProvider = olderCopy(createTokenProvider({}))
    onTestFinished(() => oldProvider.dispose())
    expect((await createHealthHandler(oldProvider)(get())).status).toBe(503)
  })

  it('refuses what is neither a provider nor a registry', () => {
    expect(() => createHealthHandler({} as TokenProvider)).toThrow(TypeError)
    expect(() => createHealthHandler(null as unknown as TokenProvider)).toThrow(
      'createHealthHandler needs a TokenProvider or a TokenRegistry',
    )
  })
})
