import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createMemoryStore,
  createTokenProvider,
  type FetchToken,
  type TokenProvider,
  type TokenProviderOptions,
  type TokenReason,
  type TokenStore,
} from '../../src/index.js'
import { pendingTimers } from '../../src/internal/timer.js'
import { record } from '../helpers/record.js'

const minute = 60_000
const hour = 60 * minute
const T0 = Date.UTC(2026, 0, 1)

/** An identity provider that counts its grants and hands out opaque tokens with a lifetime. */
function identityProvider(lifetimeMs = hour, rotating = true) {
  const state = { calls: 0, hang: false, sent: [] as (string | undefined)[] }
  const fetchToken: FetchToken = async ({ signal, current }) => {
    state.calls++
    state.sent.push(current?.refreshToken)
    if (state.hang) return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    const token = { accessToken: `t${state.calls}`, expiresAt: Date.now() + lifetimeMs, issuedAt: Date.now() }
    return rotating ? { ...token, refreshToken: `r${state.calls}-after-${current?.refreshToken ?? 'none'}` } : token
  }
  return { state, fetchToken }
}

let providers: TokenProvider[] = []
function fleet(count: number, options: TokenProviderOptions): TokenProvider[] {
  const made = Array.from({ length: count }, () =>
    createTokenProvider({ refreshJitterRatio: 0, storeKey: 'svc-orders', ...options }),
  )
  providers.push(...made)
  return made
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 })
  providers = []
})

afterEach(() => {
  for (const provider of providers) provider.dispose()
  expect(pendingTimers()).toBe(0)
  expect(vi.getTimerCount()).toBe(0)
})

describe('providers sharing a store', () => {
  it('make exactly one grant per token lifetime across 20 providers, over many lifetimes', async () => {
    const idp = identityProvider(hour)
    const store = createMemoryStore()
    const members = fleet(20, { fetchToken: idp.fetchToken, store })
    const first = await Promise.all(members.map((member) => member.getToken()))
    expect(idp.state.calls).toBe(1)
    expect(new Set(first)).toEqual(new Set(['t1']))
    const reasons = new Map<TokenProvider, TokenReason[]>()
    for (const member of members) {
      const seen: TokenReason[] = []
      member.on('token', (event) => seen.push(event.reason))
      reasons.set(member, seen)
    }
    // Ten lifetimes: each refreshes at 48 minutes.
    for (let i = 0; i < 10 * 60; i++) {
      await vi.advanceTimersByTimeAsync(minute)
      for (const member of members) expect(['fresh', 'stale', 'refreshing']).toContain(member.state)
    }
    expect(idp.state.calls).toBe(1 + Math.floor((10 * hour) / (0.8 * hour)))
    const tokens = new Set(members.map((member) => member.current?.accessToken))
    expect(tokens.size).toBe(1)
    // Exactly one of the twenty fetched each time; the others took the token from the store.
    const pulls = [...reasons.values()].flat().filter((reason) => reason === 'scheduled').length
    const fromStore = [...reasons.values()].flat().filter((reason) => reason === 'store').length
    expect(pulls).toBe(idp.state.calls - 1)
    expect(fromStore).toBe(19 * (idp.state.calls - 1))
  })

  it('uses a fresh stored token without calling fetchToken', async () => {
    const idp = identityProvider()
    const store = createMemoryStore()
    await store.set('svc-orders', { accessToken: 'from-another-process', expiresAt: T0 + hour, issuedAt: T0 })
    const [member] = fleet(1, { fetchToken: idp.fetchToken, store }) as [TokenProvider]
    expect(await member.getToken()).toBe('from-another-process')
    expect(idp.state.calls).toBe(0)
  })

  it('lets another process take over after the lease when the holder dies mid-refresh, with no caller failing', async () => {
    const idp = identityProvider(hour)
    const store = createMemoryStore()
    const [holder, ...others] = fleet(5, { fetchToken: idp.fetchToken, store })
    await Promise.all([holder, ...others].map((member) => member?.getToken()))
    expect(idp.state.calls).toBe(1)
    // The holder will be the one whose timer fires first; make its grant hang, as a dead process.
    const dying: FetchToken = () => new Promise(() => {})
    const dead = createTokenProvider({
      refreshJitterRatio: 0,
      storeKey: 'svc-orders',
      store,
      fetchToken: dying,
      initialToken: (await store.get('svc-orders')) as never,
      refreshAtRatio: 0.79,
      refreshTimeoutMs: Number.POSITIVE_INFINITY,
    })
    providers.push(dead)
    let failures = 0
    for (let t = 0; t < 60; t++) {
      await vi.advanceTimersByTimeAsync(minute)
      for (const member of others) await member.getToken().catch(() => failures++)
    }
    expect(failures).toBe(0)
    // t1 at the start; the dead holder took the lease at 47.4 min and never delivered; after the
    // 5 s lease one other process fetched t2 for everyone, the dead one's hung call counted too.
    expect(idp.state.calls).toBe(2)
    expect(new Set(others.map((member) => member.current?.accessToken))).toEqual(new Set(['t2']))
    void holder
  })

  it('refreshes locally and reports store errors when the store fails or hangs, and shares again once it is back', async () => {
    // Client credentials: no refresh token to spend, so nothing is lost by refreshing alone.
    const idp = identityProvider(hour, false)
    const memory = createMemoryStore()
    let mode: 'ok' | 'fail' | 'hang' = 'fail'
    const answer = <T>(ok: () => Promise<T>): Promise<T> =>
      mode === 'ok' ? ok() : mode === 'fail' ? Promise.reject(new Error('ECONNREFUSED')) : new Promise<T>(() => {})
    const flaky: TokenStore = {
      get: (key) => answer(() => memory.get(key)),
      set: (key, token) => answer(() => memory.set(key, token)),
      acquire: (key, ttl) => answer(() => memory.acquire(key, ttl)),
    }
    const [a, b] = fleet(2, { fetchToken: idp.fetchToken, store: flaky }) as [TokenProvider, TokenProvider]
    const errors = record(a, 'error')
    expect(await a.getToken()).toBe('t1')
    expect(await b.getToken()).toBe('t2')
    // One failed call, and the rest of the refresh went on without the store.
    expect(errors).toHaveLength(1)
    expect(errors.every((event) => event.store === true && event.willRetry === false)).toBe(true)
    // A failed store is left alone for five of its timeouts (10 s), then tried again.
    await vi.advanceTimersByTimeAsync(10_000)
    mode = 'hang'
    const waiting = a.refresh()
    // One hung call (2 s) marks the store down: the rest of the refresh does without it.
    await vi.advanceTimersByTimeAsync(2_000)
    expect((await waiting).accessToken).toBe('t3')
    expect(errors.map((event) => event.error.message)).toContain('the token store did not answer within 2000 ms')
    await vi.advanceTimersByTimeAsync(10_000)
    mode = 'ok'
    const calls = idp.state.calls
    await a.refresh()
    await vi.advanceTimersByTimeAsync(hour)
    // Back to sharing: b took a's token from the store instead of fetching its own.
    expect(b.current?.accessToken).toBe(a.current?.accessToken)
    expect(idp.state.calls - calls).toBe(2)
  })

  it('writes pushed tokens to the store, and a watching provider adopts them at once', async () => {
    const store = createMemoryStore()
    const [a, b] = fleet(2, { store }) as [TokenProvider, TokenProvider]
    expect(a.setToken({ accessToken: 'pushed', expiresAt: T0 + hour, issuedAt: T0 })).toBe(true)
    await vi.advanceTimersByTimeAsync(0)
    expect((await store.get('svc-orders'))?.accessToken).toBe('pushed')
    expect(b.current?.accessToken).toBe('pushed')
  })

  it('passes the latest rotated refresh token from the store to the next grant', async () => {
    const idp = identityProvider(hour)
    const store = createMemoryStore()
    await store.set('svc-orders', {
      accessToken: 'old',
      expiresAt: T0 + 10 * minute,
      issuedAt: T0 - 50 * minute,
      refreshToken: 'rotated-elsewhere',
    })
    const [member] = fleet(1, { fetchToken: idp.fetchToken, store }) as [TokenProvider]
    const seen: string[] = []
    member.on('token', (event) => seen.push(`${event.reason}:${event.token.accessToken}`))
    // The stored token is valid but past its refresh point: taken, then refreshed with its refresh token.
    expect(await member.getToken()).toBe('t1')
    expect(seen).toEqual(['store:old', 'initial:t1'])
    expect(member.current?.refreshToken).toBe('r1-after-rotated-elsewhere')
  })

  it('never spends a refresh token without the lease: a failing store fails the refresh until it is back', async () => {
    const idp = identityProvider(10 * minute)
    const memory = createMemoryStore()
    let failing = false
    const answer = <T>(ok: () => Promise<T>): Promise<T> => (failing ? Promise.reject(new Error('EIO')) : ok())
    const flaky: TokenStore = {
      get: (key) => answer(() => memory.get(key)),
      set: (key, token) => answer(() => memory.set(key, token)),
      acquire: (key, ttl) => answer(() => memory.acquire(key, ttl)),
    }
    const [member] = fleet(1, { fetchToken: idp.fetchToken, store: flaky, retry: { maxDelayMs: 1_000 } }) as [
      TokenProvider,
    ]
    expect(await member.getToken()).toBe('t1')
    failing = true
    // Past the refresh point (8 min) and then the expiry: no grant is sent, callers get RefreshError.
    await vi.advanceTimersByTimeAsync(10 * minute)
    expect(idp.state.calls).toBe(1)
    const error = await member.getToken().catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'RefreshError', cause: { code: 'ERR_STORE' } })
    failing = false
    // The next attempt (one backoff step, at most 1 s here) goes through the store.
    await vi.advanceTimersByTimeAsync(1_000)
    expect(idp.state.calls).toBe(2)
    expect(await member.getToken()).toBe('t2')
    expect((await memory.get('svc-orders'))?.refreshToken).toBe('r2-after-r1-after-none')
  })

  it('keeps the latest refresh token past its access token: a provider started later sends it', async () => {
    const idp = identityProvider(10 * minute)
    const store = createMemoryStore()
    const [first] = fleet(1, { fetchToken: idp.fetchToken, store }) as [TokenProvider]
    expect(await first.getToken()).toBe('t1')
    first.dispose()
    // An hour later the access token has long expired, but the record and its refresh token remain.
    await vi.advanceTimersByTimeAsync(hour)
    expect(await store.get('svc-orders')).toMatchObject({ accessToken: 't1', refreshToken: 'r1-after-none' })
    const [later] = fleet(1, { fetchToken: idp.fetchToken, store }) as [TokenProvider]
    expect(await later.getToken()).toBe('t2')
    expect(idp.state.sent).toEqual([undefined, 'r1-after-none'])
  })

  it('refuses a stored token of another identity and fetches its own', async () => {
    const store = createMemoryStore()
    const jwtFor = (sub: string) =>
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub, exp: T0 / 1000 + 3600 })).toString('base64url')}.x`
    await store.set('svc-orders', { accessToken: jwtFor('svc-other'), expiresAt: T0 + hour })
    const [member] = fleet(1, {
      store,
      fetchToken: async () => jwtFor('svc-orders'),
      expectedClaims: { sub: 'svc-orders' },
    }) as [TokenProvider]
    const errors = record(member, 'error')
    expect(await member.getToken()).toBe(jwtFor('svc-orders'))
    // Read twice, refused twice: before taking the lease and under it.
    expect(errors.map((event) => [event.store, (event.error as { code?: string }).code])).toEqual([
      [true, 'ERR_CLAIMS_MISMATCH'],
      [true, 'ERR_CLAIMS_MISMATCH'],
    ])
  })

  it('needs storeKey or name with a store, and a store of the right shape', () => {
    const store = createMemoryStore()
    expect(() => createTokenProvider({ store })).toThrow(/storeKey/)
    expect(() => createTokenProvider({ store: {} as never, storeKey: 'a' })).toThrow('store must be a TokenStore')
    expect(() => createTokenProvider({ store, storeKey: 'a', storeLeaseMs: 0 })).toThrow(RangeError)
    createTokenProvider({ store, name: 'svc' }).dispose()
  })
})
