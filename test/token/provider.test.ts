import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest'
import {
  AuthError,
  createTokenProvider,
  DisposedError,
  type FetchToken,
  isAuthError,
  parseToken,
  RefreshError,
  TokenDecodeError,
  type TokenProvider,
  type TokenProviderErrorEvent,
  type TokenProviderOptions,
  type TokenReason,
  type TokenSet,
} from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { record } from '../helpers/record.js'

const second = 1_000
const minute = 60 * second
const hour = 60 * minute
const day = 24 * hour
const T0 = Date.UTC(2026, 0, 1)

// jose signs through WebCrypto, which settles outside the fake clock: `advance` waits for every
// signature in progress, so a refresh started by a timer lands before the test looks.
const signing = new Set<Promise<unknown>>()

function signed(token: Promise<string>): Promise<string> {
  signing.add(token)
  void token.finally(() => signing.delete(token))
  return token
}

async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms)
  while (signing.size > 0) {
    await Promise.allSettled([...signing])
    await vi.advanceTimersByTimeAsync(0)
  }
}

/** A token endpoint under the test's control: counts calls, mints real JWTs, can fail or hang. */
function tokenEndpoint(lifetimeMs = 8 * hour, sub = 'agent') {
  const state = { calls: 0, down: false, hang: false, reasons: [] as string[] }
  const fetchToken: FetchToken = async ({ reason, signal }) => {
    state.calls++
    state.reasons.push(reason)
    if (state.hang) {
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    }
    if (state.down) throw new Error('503 from the token endpoint')
    return signed(mint({ sub, lifetimeMs }))
  }
  return { state, fetchToken }
}

// No jitter, for exact boundaries. No refresh timeout either: a WebCrypto signature settles in
// real time while the fake clock may run on for minutes inside one `advance`, and a 30 s timeout
// would fire there that never could in production (the timeout has its own test).
const quiet: Partial<TokenProviderOptions> = { refreshJitterRatio: 0, refreshTimeoutMs: Number.POSITIVE_INFINITY }
let providers: TokenProvider[] = []

function provider(options: TokenProviderOptions): TokenProvider {
  const made = createTokenProvider({ ...quiet, ...options })
  providers.push(made)
  return made
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 })
  providers = []
})

afterEach(() => {
  for (const p of providers) p.dispose()
  expect(vi.getTimerCount()).toBe(0)
})

describe('createTokenProvider', () => {
  it('makes exactly one fetchToken call for 10,000 concurrent getToken() calls on an empty provider', async () => {
    const { state, fetchToken } = tokenEndpoint()
    const tokens = provider({ fetchToken })
    expect(tokens.state).toBe('empty')
    const results = await Promise.all(Array.from({ length: 10_000 }, () => tokens.getToken()))
    expect(state.calls).toBe(1)
    expect(state.reasons).toEqual(['initial'])
    expect(new Set(results).size).toBe(1)
    expect(results[0]).toBe(tokens.current?.accessToken)
    expect(tokens.state).toBe('fresh')
  })

  it('refreshes at the computed point and not 1 ms before', async () => {
    const { state, fetchToken } = tokenEndpoint()
    const tokens = provider({ fetchToken, initialToken: await mint({ lifetimeMs: 8 * hour }) })
    await advance(6.4 * hour - 1)
    expect(state.calls).toBe(0)
    expect(tokens.state).toBe('fresh')
    await advance(1)
    expect(state.calls).toBe(1)
    expect(state.reasons).toEqual(['scheduled'])
    expect(tokens.state).toBe('fresh')
  })

  it('chains the timer of a 30-day token: no early fetch, no overflow warning, refreshed before expiry', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on('warning', onWarning)
    const { state, fetchToken } = tokenEndpoint(30 * day)
    const expired: unknown[] = []
    const tokens = provider({ fetchToken, initialToken: await mint({ lifetimeMs: 30 * day }) })
    tokens.on('expired', (event) => expired.push(event))
    await advance(24 * day - 1)
    expect(state.calls).toBe(0)
    await advance(1)
    expect(state.calls).toBe(1)
    await advance(6 * day)
    expect(state.calls).toBe(1)
    expect(expired).toEqual([])
    expect(tokens.state).toBe('fresh')
    process.off('warning', onWarning)
    expect(warnings).not.toContain('TimeoutOverflowWarning')
  })

  it('keeps an idle 8-hour token fresh for 7 days with nobody calling it', async () => {
    const { state, fetchToken } = tokenEndpoint(8 * hour)
    const tokens = provider({ fetchToken, initialToken: await mint({ lifetimeMs: 8 * hour }) })
    const expired = record(tokens, 'expired')
    const refreshes = record(tokens, 'token')
    for (let elapsed = 0; elapsed < 7 * day; elapsed += 10 * minute) {
      await advance(10 * minute)
      expect(['fresh', 'stale']).toContain(tokens.state)
    }
    // JWT times are whole seconds, so each cycle is 6.4 h (23,040 s) exactly: 26 in 7 days.
    expect(state.calls).toBe(Math.floor((7 * day) / (6.4 * hour)))
    expect(refreshes.map((event) => event.reason)).toEqual(Array(26).fill('scheduled'))
    expect(expired).toEqual([])
  })

  it('does not let a pull that resolves after a newer push replace it', async () => {
    let release: (token: string) => void = () => {}
    const stale = await mint({ lifetimeMs: hour })
    const tokens = provider({ fetchToken: () => new Promise((resolve) => (release = resolve)) })
    const waiting = tokens.getToken()
    const pushed = await mint({ lifetimeMs: 2 * hour })
    expect(tokens.setToken(pushed)).toBe(true)
    release(stale)
    expect(await waiting).toBe(pushed)
    expect(tokens.current?.accessToken).toBe(pushed)
  })

  it('lets a pull replace the token it was started for, even with the same expiry', async () => {
    const first = await mint({ lifetimeMs: hour })
    const second = await mint({ lifetimeMs: hour })
    expect(parseToken(first).expiresAt).toBe(parseToken(second).expiresAt)
    const tokens = provider({ initialToken: first, fetchToken: async () => second })
    expect(await tokens.refresh()).toMatchObject({ accessToken: second })
  })

  it('rides out a 20-minute outage while the token is valid, with growing backoff', async () => {
    const { state, fetchToken } = tokenEndpoint(8 * hour)
    const tokens = provider({ fetchToken, initialToken: await mint({ lifetimeMs: 8 * hour }) })
    const errors = record(tokens, 'error')
    const issued = tokens.current?.accessToken
    await advance(6.4 * hour - minute)
    state.down = true
    let failures = 0
    for (let t = 0; t < 21 * minute; t += 5 * second) {
      await tokens.getToken().catch(() => failures++)
      await advance(5 * second)
    }
    expect(failures).toBe(0)
    expect(tokens.current?.accessToken).toBe(issued)
    const delays = errors.map((event) => event.retryInMs as number)
    expect(errors.map((event) => event.attempt)).toEqual(delays.map((_, i) => i + 1))
    expect(errors.every((event) => event.willRetry && isAuthError(event.error, 'ERR_REFRESH'))).toBe(true)
    for (let i = 1; i < 5; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1] as number)
    expect(Math.max(...delays)).toBeLessThanOrEqual(30 * second)
    // 20 minutes at 30 s at most per step after the first few: dozens of attempts, not thousands.
    expect(errors.length).toBeGreaterThan(35)
    expect(errors.length).toBeLessThan(60)
    state.down = false
    await advance(30 * second)
    expect(tokens.current?.accessToken).not.toBe(issued)
    expect(tokens.state).toBe('fresh')
  })

  it('rejects with RefreshError once an outage outlasts the token, then recovers', async () => {
    const { state, fetchToken } = tokenEndpoint(hour)
    const tokens = provider({ fetchToken, initialToken: await mint({ lifetimeMs: hour }) })
    const expired = record(tokens, 'expired')
    state.down = true
    await advance(hour)
    expect(tokens.state).toBe('expired')
    expect(expired).toEqual([{ expiresAt: T0 + hour }])
    const error = await tokens.getToken().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(RefreshError)
    expect((error as RefreshError).code).toBe('ERR_REFRESH')
    expect(((error as RefreshError).cause as Error).message).toBe('503 from the token endpoint')
    const callsBefore = state.calls
    // Callers during the backoff get the error at once and do not cause attempts.
    await Promise.all(Array.from({ length: 100 }, () => tokens.getToken().catch(() => undefined)))
    expect(state.calls).toBe(callsBefore)
    state.down = false
    await advance(30 * second)
    expect(tokens.state).toBe('fresh')
    expect(await tokens.getToken()).toBe(tokens.current?.accessToken)
  })

  it('serves the valid token when a background refresh fails, and only explicit refreshes reject', async () => {
    const { state, fetchToken } = tokenEndpoint()
    const initial = await mint({ lifetimeMs: hour })
    const tokens = provider({ fetchToken, initialToken: initial })
    state.down = true
    await expect(tokens.refresh()).rejects.toBeInstanceOf(RefreshError)
    await expect(tokens.getToken({ forceRefresh: true })).rejects.toBeInstanceOf(RefreshError)
    expect(await tokens.getToken()).toBe(initial)
  })

  it('joins callers to the refresh in flight while the token is expired', async () => {
    let release: (value: string) => void = () => {}
    let calls = 0
    const tokens = provider({
      fetchToken: () => {
        calls++
        return new Promise((resolve) => (release = resolve))
      },
      initialToken: { accessToken: 'old', expiresAt: T0 + 10 * second, issuedAt: T0 },
    })
    await advance(10 * second)
    expect(tokens.state).toBe('refreshing')
    const waiting = Promise.all([tokens.getToken(), tokens.getToken(), tokens.getTokenSet()])
    release('new')
    const [a, b, set] = await waiting
    expect([a, b, set.accessToken]).toEqual(['new', 'new', 'new'])
    expect(calls).toBe(1)
  })

  it('lets one caller abort its wait without aborting the refresh others share', async () => {
    let release: (value: string) => void = () => {}
    let aborted = false
    const tokens = provider({
      fetchToken: ({ signal }) => {
        signal.addEventListener('abort', () => (aborted = true))
        return new Promise((resolve) => (release = resolve))
      },
    })
    const controller = new AbortController()
    const first = tokens.getToken({ signal: controller.signal })
    const second = tokens.getToken()
    controller.abort(new Error('caller gave up'))
    await expect(first).rejects.toThrow('caller gave up')
    release('shared')
    expect(await second).toBe('shared')
    expect(aborted).toBe(false)
    await expect(tokens.getToken({ signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already')
  })

  it('fails a refresh that does not settle with ERR_REFRESH_TIMEOUT, and aborts fetchToken', async () => {
    const { state, fetchToken } = tokenEndpoint()
    state.hang = true
    const tokens = provider({ fetchToken, refreshTimeoutMs: 5 * second })
    const result = tokens.getToken().catch((error: unknown) => error)
    await advance(5 * second)
    const error = (await result) as RefreshError
    expect(isAuthError(error, 'ERR_REFRESH_TIMEOUT')).toBe(true)
    expect(error.message).toBe('token provider: refresh failed (attempt 1): fetchToken did not settle within 5000 ms')
  })

  it('makes one refresh for 500 invalidations of the current token, and none for a replaced one', async () => {
    const { state, fetchToken } = tokenEndpoint()
    const tokens = provider({ fetchToken })
    const first = await tokens.getToken()
    for (let i = 0; i < 500; i++) tokens.invalidate(first)
    expect(tokens.state).toBe('refreshing')
    const second = await tokens.getToken()
    expect(second).not.toBe(first)
    expect(state.calls).toBe(2)
    expect(state.reasons).toEqual(['initial', 'unauthorized'])
    tokens.invalidate(first)
    tokens.invalidate('never-seen')
    expect(await tokens.getToken()).toBe(second)
    expect(state.calls).toBe(2)
  })

  it('refuses a pulled token that is the one a server just rejected', async () => {
    const token = await mint({ lifetimeMs: hour })
    const tokens = provider({ fetchToken: async () => token, initialToken: token })
    tokens.invalidate(token)
    const error = await tokens.getToken().catch((caught: unknown) => caught)
    expect(isAuthError(error, 'ERR_REFRESH')).toBe(true)
    expect((error as Error).message).toMatch(/returned the token a server just rejected/)
  })

  it('refuses a pulled token that has already expired', async () => {
    const tokens = provider({ fetchToken: async () => mint({ issuedAt: T0 - 2 * hour, lifetimeMs: hour }) })
    await expect(tokens.getToken()).rejects.toThrow(/returned a token that has already expired/)
  })

  it('accepts pushes only when newer, and checks them', async () => {
    const tokens = provider({ expectedClaims: { sub: 'agent-a' } })
    const older = await mint({ sub: 'agent-a', lifetimeMs: hour })
    const newer = await mint({ sub: 'agent-a', lifetimeMs: 2 * hour })
    const pushes = record(tokens, 'token')
    expect(tokens.setToken(older)).toBe(true)
    expect(tokens.setToken(newer)).toBe(true)
    expect(tokens.setToken(older)).toBe(false)
    expect(tokens.setToken(newer)).toBe(false)
    expect(tokens.setToken(await mint({ sub: 'agent-a', issuedAt: T0 - 3 * hour, lifetimeMs: hour }))).toBe(false)
    expect(() => tokens.setToken('')).toThrow(TokenDecodeError)
    const other = await mint({ sub: 'agent-b', lifetimeMs: 9 * hour })
    let error: unknown
    try {
      tokens.setToken(other)
    } catch (caught) {
      error = caught
    }
    expect(isAuthError(error, 'ERR_CLAIMS_MISMATCH')).toBe(true)
    expect((error as Error).message).not.toContain(other)
    expect(tokens.current?.accessToken).toBe(newer)
    expect(pushes.map((event) => event.reason)).toEqual(['push', 'push'])
  })

  it('takes any different valid push once the current token was rejected', async () => {
    const current = await mint({ lifetimeMs: 2 * hour })
    const replacement = await mint({ lifetimeMs: hour })
    const tokens = provider({ initialToken: current })
    tokens.invalidate(current)
    expect(tokens.setToken(current)).toBe(false)
    expect(tokens.setToken(replacement)).toBe(true)
    expect(await tokens.getToken()).toBe(replacement)
  })

  it('refuses a token for another identity from fetchToken, and retries', async () => {
    let sub = 'agent-b'
    const tokens = provider({ fetchToken: () => signed(mint({ sub })), expectedClaims: { sub: 'agent-a' } })
    const errors = record(tokens, 'error')
    await expect(tokens.getToken()).rejects.toThrow(RefreshError)
    expect(isAuthError(errors[0]?.error.cause, 'ERR_CLAIMS_MISMATCH')).toBe(true)
    expect(errors[0]?.willRetry).toBe(true)
    sub = 'agent-a'
    await advance(second)
    expect(tokens.state).toBe('fresh')
  })

  it('rejects getToken() of a push-only provider without a valid token with ERR_NO_TOKEN', async () => {
    const tokens = provider({})
    const error = await tokens.getToken().catch((caught: unknown) => caught)
    expect(isAuthError(error, 'ERR_NO_TOKEN')).toBe(true)
    await expect(tokens.refresh()).rejects.toMatchObject({ code: 'ERR_NO_TOKEN' })
    tokens.setToken({ accessToken: 'opaque' })
    expect(await tokens.getToken()).toBe('opaque')
    tokens.invalidate('opaque')
    expect(tokens.state).toBe('expired')
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'ERR_NO_TOKEN' })
  })

  it('stops on a terminal error until an explicit refresh or a push', async () => {
    let calls = 0
    let terminal = true
    const tokens = provider({
      fetchToken: async () => {
        calls++
        if (terminal) throw new AuthError('revoked', { terminal: true })
        return signed(mint())
      },
    })
    const errors = record(tokens, 'error')
    const error = (await tokens.getToken().catch((caught: unknown) => caught)) as RefreshError
    expect(error.terminal).toBe(true)
    expect(tokens.state).toBe('failed')
    expect(errors).toMatchObject([{ attempt: 1, willRetry: false }])
    expect(errors[0]?.retryInMs).toBeUndefined()
    await advance(hour)
    await expect(tokens.getToken()).rejects.toBe(error)
    expect(calls).toBe(1)
    terminal = false
    await tokens.refresh()
    expect(tokens.state).toBe('fresh')
    expect(calls).toBe(2)
  })

  it('gives up after retry.attempts failures in a row', async () => {
    const { state, fetchToken } = tokenEndpoint()
    state.down = true
    const tokens = provider({ fetchToken, retry: { attempts: 3, baseDelayMs: 100 } })
    const errors = record(tokens, 'error')
    await tokens.getToken().catch(() => undefined)
    await advance(minute)
    expect(state.calls).toBe(3)
    expect(errors.map((event) => event.willRetry)).toEqual([true, true, false])
    expect(tokens.state).toBe('failed')
    tokens.setToken(await mint())
    expect(tokens.state).toBe('fresh')
  })

  it('spaces unforced refreshes by minRefreshIntervalMs', async () => {
    let calls = 0
    // Tokens that are stale on arrival: a naive provider would refresh in a loop.
    const tokens = provider({
      fetchToken: async () => {
        calls++
        return { accessToken: `t${calls}`, expiresAt: Date.now() + hour, issuedAt: Date.now() - 9 * hour }
      },
      minRefreshIntervalMs: 5 * second,
    })
    await tokens.getToken()
    for (let i = 0; i < 100; i++) await tokens.getToken()
    expect(calls).toBe(1)
    await advance(5 * second - 1)
    expect(calls).toBe(1)
    await advance(1)
    expect(calls).toBe(2)
    await tokens.refresh()
    expect(calls).toBe(3)
  })

  it('makes a caller that needs a token wait out the throttle rather than refresh in a loop', async () => {
    const starts: number[] = []
    const tokens = provider({
      minRefreshIntervalMs: 5 * second,
      fetchToken: async () => {
        starts.push(Date.now() - T0)
        return { accessToken: `t${starts.length}`, expiresIn: 2 }
      },
    })
    await tokens.getToken()
    await advance(1_950)
    expect(tokens.state).toBe('expired')
    const waiting = tokens.getToken()
    await advance(3_050)
    expect(await waiting).toBe('t2')
    expect(starts).toEqual([0, 5_000])
  })

  it('carries the refresh token forward when the new token has none', async () => {
    const seen: (string | undefined)[] = []
    const tokens = provider({
      initialToken: { accessToken: 'a', expiresIn: 3600, refreshToken: 'r1' },
      fetchToken: async ({ current }) => {
        seen.push(current?.refreshToken)
        return { accessToken: `b${seen.length}`, expiresIn: 3600 }
      },
    })
    await tokens.refresh()
    await tokens.refresh()
    expect(seen).toEqual(['r1', 'r1'])
    expect(tokens.current?.refreshToken).toBe('r1')
  })

  it('reports the state of each phase', async () => {
    const { state, fetchToken } = tokenEndpoint(10 * second)
    const tokens = provider({ fetchToken, initialToken: await mint({ lifetimeMs: 10 * second }) })
    expect(tokens.state).toBe('fresh')
    state.down = true
    await advance(8 * second)
    expect(tokens.state).toBe('stale')
    await advance(second)
    expect(tokens.state).toBe('expired')
    tokens.dispose()
    expect(tokens.state).toBe('disposed')
  })

  it('disposes: clears timers, aborts the refresh, rejects callers and later calls, idempotently', async () => {
    const { state, fetchToken } = tokenEndpoint()
    state.hang = true
    const tokens = provider({ fetchToken, initialToken: await mint({ lifetimeMs: hour }), refreshTimeoutMs: minute })
    const disposed = record(tokens, 'disposed')
    tokens.on('token', () => {})
    const waiting = tokens.refresh().catch((error: unknown) => error)
    expect(vi.getTimerCount()).toBeGreaterThan(0)
    tokens.dispose()
    tokens[Symbol.dispose]()
    expect(vi.getTimerCount()).toBe(0)
    expect(disposed).toHaveLength(1)
    expect(await waiting).toBeInstanceOf(DisposedError)
    await expect(tokens.getToken()).rejects.toBeInstanceOf(DisposedError)
    await expect(tokens.refresh()).rejects.toMatchObject({ code: 'ERR_DISPOSED' })
    expect(() => tokens.setToken('x')).toThrow(DisposedError)
    expect(() => tokens.on('token', () => {})).toThrow(DisposedError)
    expect(tokens.current).toBeUndefined()
    tokens.invalidate('x')
  })

  it('aborts the signal fetchToken got when disposed mid-refresh', async () => {
    let signal: AbortSignal | undefined
    const tokens = provider({
      fetchToken: (context) => {
        signal = context.signal
        return new Promise(() => {})
      },
    })
    const waiting = tokens.getToken().catch((error: unknown) => error)
    tokens.dispose()
    expect(signal?.aborted).toBe(true)
    expect(await waiting).toBeInstanceOf(DisposedError)
  })

  it('works with `using`', async () => {
    let outer: TokenProvider | undefined
    {
      using tokens = createTokenProvider({ initialToken: 'opaque' })
      outer = tokens
      expect(await tokens.getToken()).toBe('opaque')
    }
    expect(outer.state).toBe('disposed')
  })

  it('returns an unsubscribe function from on(), and survives a throwing handler', async () => {
    const { fetchToken } = tokenEndpoint()
    const tokens = provider({ fetchToken })
    const seen: TokenReason[] = []
    const off = tokens.on('token', (event) => seen.push(event.reason))
    const thrown: unknown[] = []
    const onUncaught = (error: unknown) => thrown.push(error)
    process.on('uncaughtException', onUncaught)
    tokens.on('token', () => {
      throw new Error('handler bug')
    })
    await tokens.getToken()
    off()
    await tokens.refresh()
    await advance(0)
    process.off('uncaughtException', onUncaught)
    expect(seen).toEqual(['initial'])
    expect(tokens.state).toBe('fresh')
    expect(thrown.map((error) => (error as Error).message)).toEqual(['handler bug', 'handler bug'])
  })

  it('turns a problem reported by fetchToken into an error event without failing the refresh', async () => {
    const tokens = provider({
      fetchToken: async ({ report }) => {
        report(new Error('could not persist the rotated refresh token'))
        return 'opaque'
      },
    })
    const errors = record(tokens, 'error')
    expect(await tokens.getToken()).toBe('opaque')
    expect(errors).toMatchObject([{ attempt: 0, willRetry: false }])
    expect(errors[0]?.error.message).toBe('could not persist the rotated refresh token')
  })

  it('calls attach once and its cleanup at disposal', () => {
    const calls: string[] = []
    const fetchToken: FetchToken = Object.assign(async () => 'x', {
      attach: (attached: TokenProvider) => {
        calls.push(`attach:${attached.state}`)
        return () => calls.push('detach')
      },
    })
    const tokens = provider({ fetchToken })
    tokens.dispose()
    tokens.dispose()
    expect(calls).toEqual(['attach:empty', 'detach'])
  })

  it('validates options with errors that name the option', () => {
    expect(() => createTokenProvider(null as never)).toThrow(TypeError)
    expect(() => createTokenProvider({ fetchToken: 'x' as never })).toThrow('fetchToken must be a function')
    expect(() => createTokenProvider({ refreshAtRatio: 0 })).toThrow('refreshAtRatio must be greater than 0')
    expect(() => createTokenProvider({ refreshAtRatio: 1.5 })).toThrow(RangeError)
    expect(() => createTokenProvider({ refreshLeadMs: -1 })).toThrow('refreshLeadMs must be')
    expect(() => createTokenProvider({ clockSkewMs: Number.NaN })).toThrow('clockSkewMs must be')
    expect(() => createTokenProvider({ refreshJitterRatio: 1 })).toThrow('refreshJitterRatio must be less than 1')
    expect(() => createTokenProvider({ refreshTimeoutMs: 0 })).toThrow('refreshTimeoutMs')
    expect(() => createTokenProvider({ retry: { attempts: 0 } })).toThrow('retry.attempts')
    expect(() => createTokenProvider({ retry: { attempts: 1.5 } })).toThrow('retry.attempts')
    expect(() => createTokenProvider({ retry: { baseDelayMs: 10, maxDelayMs: 5 } })).toThrow('retry.maxDelayMs')
    expect(() => createTokenProvider({ expectedClaims: 'sub' as never })).toThrow('expectedClaims must be an object')
    expect(() => createTokenProvider({ now: 1 as never })).toThrow('now must be a function')
    expect(() => createTokenProvider({ name: 1 as never })).toThrow('name must be a string')
    expect(() => createTokenProvider({ initialToken: '' })).toThrow(TokenDecodeError)
  })

  it('uses the injected clock', async () => {
    let now = T0
    const tokens = createTokenProvider({
      now: () => now,
      initialToken: { accessToken: 'x', issuedAt: T0, expiresAt: T0 + hour },
      refreshJitterRatio: 0,
    })
    expect(tokens.state).toBe('fresh')
    now = T0 + 0.8 * hour
    expect(tokens.state).toBe('stale')
    now = T0 + hour
    expect(tokens.state).toBe('expired')
    tokens.dispose()
  })

  it('never shows the token when inspected or serialised', async () => {
    const token = await mint({ sub: 'agent-a' })
    const tokens = provider({
      initialToken: { accessToken: token, expiresIn: 60, refreshToken: 'refresh-secret' },
      name: 'a',
    })
    const { inspect } = await import('node:util')
    for (const text of [String(tokens), JSON.stringify(tokens), inspect(tokens, { showHidden: true, depth: 9 })]) {
      expect(text).not.toContain(token)
      expect(text).not.toContain('refresh-secret')
    }
    expect(JSON.stringify(tokens)).toBe('{"name":"token provider \\"a\\"","state":"fresh"}')
  })

  it('types its events', () => {
    const tokens = provider({})
    tokens.on('token', (event) =>
      expectTypeOf(event).toEqualTypeOf<{ token: TokenSet; reason: TokenReason; clockOffsetMs?: number }>(),
    )
    tokens.on('error', (event) => expectTypeOf(event).toEqualTypeOf<TokenProviderErrorEvent>())
    tokens.on('expired', (event) => expectTypeOf(event).toEqualTypeOf<{ expiresAt: number }>())
    tokens.on('disposed', (event) => expectTypeOf(event).toEqualTypeOf<undefined>())
    // @ts-expect-error: not an event of the provider
    tokens.on('nope', () => {})
  })

  it('backs off, rather than refetching every second, while the endpoint answers with the token it holds', async () => {
    const token = await mint({ lifetimeMs: hour })
    let calls = 0
    const tokens = provider({
      initialToken: token,
      fetchToken: async () => {
        calls++
        return token
      },
    })
    const installed = record(tokens, 'token')
    const errors = record(tokens, 'error')
    await advance(48 * minute) // the refresh point
    expect(calls).toBe(1)
    await advance(minute)
    // Backoff 1, 2, 4, 8, 16 and 30 s (up to 20% sooner each): 6 more calls in the minute, not 60.
    expect(calls).toBeGreaterThanOrEqual(6)
    expect(calls).toBeLessThanOrEqual(8)
    expect(installed).toEqual([])
    expect(errors[0]?.error.message).toMatch(/returned the token the provider already holds/)
    expect(tokens.current?.accessToken).toBe(token)
  })

  it.each([-hour, -50 * second, 50 * second, 180 * second, hour])(
    'with a local clock %d ms off the issuer, takes the first token and backs off per step while a caching endpoint hands it back',
    async (offsetMs) => {
      let calls = 0
      let cached: Promise<string> | undefined
      const tokens = provider({
        now: () => Date.now() + offsetMs,
        fetchToken: () => {
          calls++
          cached ??= signed(mint({ lifetimeMs: hour }))
          return cached
        },
      })
      const installed = record(tokens, 'token')
      const errors = record(tokens, 'error')
      await tokens.getToken()
      // The token's iat puts the issuer `offsetMs` behind us (to the second, on the safe side).
      expect(installed).toHaveLength(1)
      expect(installed[0]?.clockOffsetMs).toBeGreaterThanOrEqual(-offsetMs)
      expect(installed[0]?.clockOffsetMs).toBeLessThanOrEqual(-offsetMs + second)
      expect(tokens.health()).toMatchObject({ healthy: true, clockOffsetMs: installed[0]?.clockOffsetMs })
      expect(tokens.state).toBe('fresh')
      await advance(48 * minute - 2 * second) // just before the refresh point, on the issuer's clock
      expect(calls).toBe(1)
      await advance(minute + 2 * second)
      // Backoff 1, 2, 4, 8, 16 and 30 s (up to 20% sooner each): 6 more calls in the minute, not 60.
      expect(calls).toBeGreaterThanOrEqual(8)
      expect(calls).toBeLessThanOrEqual(10)
      expect(installed).toHaveLength(1)
      expect(errors[0]?.error.message).toMatch(/returned the token the provider already holds/)
      expect(tokens.state).toBe('stale')
    },
  )

  it('takes the held token back quietly from an explicit refresh()', async () => {
    const token = await mint({ lifetimeMs: hour })
    const tokens = provider({ initialToken: token, fetchToken: async () => token })
    const installed = record(tokens, 'token')
    const errors = record(tokens, 'error')
    expect((await tokens.refresh()).accessToken).toBe(token)
    expect([installed, errors]).toEqual([[], []])
    expect(tokens.state).toBe('fresh')
  })

  it('takes the same token back when its expiry moved later (a sliding session)', async () => {
    const tokens = provider({
      initialToken: { accessToken: 'session', expiresAt: T0 + hour, issuedAt: T0 },
      fetchToken: async () => ({ accessToken: 'session', expiresAt: T0 + 2 * hour, issuedAt: T0 + minute }),
    })
    await tokens.refresh()
    expect(tokens.current?.expiresAt).toBe(T0 + 2 * hour)
  })

  it('waits out a throttle longer than 2^31 - 1 ms instead of refreshing at once', async () => {
    const starts: number[] = []
    const tokens = provider({
      minRefreshIntervalMs: 2 ** 32,
      fetchToken: async () => {
        starts.push(Date.now())
        return { accessToken: `t${starts.length}`, expiresIn: 1 }
      },
    })
    expect(await tokens.getToken()).toBe('t1')
    await advance(1_000)
    tokens.getToken().catch(() => {})
    await advance(1_000)
    expect(starts).toEqual([T0])
    tokens.dispose()
    expect(vi.getTimerCount()).toBe(0)
  })

  it("retries a failed refresh when its error event's retryInMs says, not later", async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.99) // a 1 s backoff becomes 802 ms
    const starts: number[] = []
    const tokens = provider({
      fetchToken: async () => {
        starts.push(Date.now() - T0)
        throw new Error('token endpoint down')
      },
      minRefreshIntervalMs: 500,
    })
    const errors = record(tokens, 'error')
    await tokens.getToken().catch(() => {})
    expect(errors.map((event) => event.retryInMs)).toEqual([802])
    await advance(802)
    expect(starts).toEqual([0, 802])
    vi.restoreAllMocks()
    // With a throttle longer than the backoff, the event gives the throttle's time.
    const throttled = provider({
      fetchToken: async () => {
        throw new Error('down')
      },
      minRefreshIntervalMs: 5_000,
    })
    const throttledErrors = record(throttled, 'error')
    await throttled.getToken().catch(() => {})
    expect(throttledErrors[0]?.retryInMs).toBe(5_000)
  })

  it('neither starts a refresh nor leaves a rejection unhandled for an already aborted refresh()', async () => {
    let calls = 0
    const tokens = provider({
      fetchToken: async () => {
        calls++
        throw new Error('down')
      },
    })
    await expect(tokens.refresh({ signal: AbortSignal.abort(new Error('client left')) })).rejects.toThrow('client left')
    await advance(0)
    expect(calls).toBe(0)
  })

  it('installs a pulled token over a pushed one that a server has refused since', async () => {
    let release: (token: TokenSet) => void = () => {}
    const tokens = provider({ fetchToken: () => new Promise((resolve) => (release = resolve)) })
    const pulling = tokens.refresh()
    tokens.setToken({ accessToken: 'pushed', expiresAt: T0 + 2 * hour, issuedAt: T0 })
    tokens.invalidate('pushed')
    release({ accessToken: 'pulled', expiresAt: T0 + hour, issuedAt: T0 })
    expect((await pulling).accessToken).toBe('pulled')
    expect(await tokens.getToken()).toBe('pulled')
  })

  it('keeps the refresh token it holds when a pushed token comes without one', () => {
    const tokens = provider({ initialToken: { accessToken: 'a', expiresIn: 60, refreshToken: 'rotated-3' } })
    tokens.setToken({ accessToken: 'b', expiresIn: 120 })
    expect(tokens.current).toMatchObject({ accessToken: 'b', refreshToken: 'rotated-3' })
  })

  it('leaves nothing running when its construction fails after a token source attached', () => {
    const calls: string[] = []
    const fetchToken: FetchToken = Object.assign(async () => 'x', {
      attach: () => {
        calls.push('attach')
        return () => calls.push('detach')
      },
    })
    const store = {
      get: async () => undefined,
      set: async () => {},
      acquire: async () => undefined,
      watch: () => {
        throw new Error('the store is closed')
      },
    }
    expect(() =>
      createTokenProvider({ fetchToken, store, storeKey: 'k', initialToken: { accessToken: 'a', expiresIn: 60 } }),
    ).toThrow('the store is closed')
    expect(calls).toEqual(['attach', 'detach'])
    expect(vi.getTimerCount()).toBe(0)
  })
})
