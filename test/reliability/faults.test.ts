import { describe, expect, it, onTestFinished } from 'vitest'
import {
  type AuthError,
  clientCredentials,
  createTokenProvider,
  isAuthError,
  RefreshError,
  RefreshingClient,
  type RefreshingClientEvents,
  type TokenProvider,
  type TokenProviderEvents,
  type TokenProviderOptions,
} from '../../src/index.js'
import {
  type FaultyApiServer,
  type FaultyTokenServer,
  startFaultyApiServer,
  startFaultyTokenServer,
  type TestClock,
  type TokenFault,
  testClock,
} from '../helpers/faults.js'
import { record } from '../helpers/record.js'

// Every fault a token endpoint or an API can throw at a long-running process, against real
// servers on 127.0.0.1, with the exact outcome: what the caller gets, which events fire, how many
// requests each server saw, and how the provider recovers. Backoff runs in real time with short
// delays (from 100 ms); the provider's clock is a test clock the servers share, so a test can move
// to the refresh point or past expiry at once, and freeze it to hold the provider inside its
// backoff for as long as the assertions take.

const second = 1_000
const minute = 60 * second
const hour = 60 * minute
const T0 = Date.UTC(2026, 0, 1)
const agentPath = '/agents/agent-a/tools'

interface Setup {
  clock: TestClock
  token: FaultyTokenServer
  api: FaultyApiServer
  tokens: TokenProvider
  client: RefreshingClient
  errors: TokenProviderEvents['error'][]
  installed: TokenProviderEvents['token'][]
  retries: RefreshingClientEvents['retry'][]
  unauthorized: RefreshingClientEvents['unauthorized'][]
  /** Resolves with the next `token` event. */
  nextToken(): Promise<TokenProviderEvents['token']>
  /** Calls the API through the client: the status, or the error it threw. */
  call(): Promise<number | AuthError>
}

async function setup(
  options: {
    lifetimeMs?: number
    expiresIn?: boolean
    sourceRetry?: number
    sourceTimeoutMs?: number
    provider?: Partial<TokenProviderOptions>
  } = {},
): Promise<Setup> {
  const clock = testClock(T0)
  clock.run()
  const token = await startFaultyTokenServer({
    now: clock.now,
    lifetimeMs: options.lifetimeMs ?? hour,
    ...(options.expiresIn === undefined ? {} : { expiresIn: options.expiresIn }),
  })
  const api = await startFaultyApiServer({ now: clock.now })
  const tokens = createTokenProvider({
    name: 'agent-a',
    fetchToken: clientCredentials({
      tokenUrl: token.tokenUrl,
      clientId: 'agent-a',
      clientSecret: 'agent-a secret',
      retry: options.sourceRetry ?? 0,
      timeoutMs: options.sourceTimeoutMs ?? 1_000,
    }),
    expectedClaims: { sub: 'agent-a' },
    now: clock.now,
    refreshJitterRatio: 0,
    retry: { baseDelayMs: 100, maxDelayMs: 400 },
    // The 1 s throttle on timer refreshes would hold every backoff retry here to 1 s after the
    // failed start; it has tests of its own.
    minRefreshIntervalMs: 0,
    ...options.provider,
  })
  onTestFinished(() => tokens.dispose())
  const client = new RefreshingClient({ tokens, baseUrl: api.origin })
  const errors: TokenProviderEvents['error'][] = []
  tokens.on('error', (event) => {
    // Freeze the clock at the first failure: the provider stays inside its backoff until the test
    // lets the clock run again (a loaded machine could otherwise outrun a 100 ms backoff).
    if (errors.length === 0) clock.set(clock.now())
    errors.push(event)
  })
  const installed = record(tokens, 'token')
  const retries = record(client, 'retry')
  const unauthorized = record(client, 'unauthorized')
  const nextToken = () =>
    new Promise<TokenProviderEvents['token']>((resolve) => {
      const off = tokens.on('token', (event) => {
        off()
        resolve(event)
      })
    })
  const call = () =>
    client.fetch(agentPath, { method: 'POST', body: '{}' }).then(
      async (response) => {
        await response.body?.cancel()
        return response.status
      },
      (error: unknown) => {
        if (!isAuthError(error)) throw error
        return error
      },
    )
  return { clock, token, api, tokens, client, errors, installed, retries, unauthorized, nextToken, call }
}

/** The outcome each token-endpoint fault must have: the `cause` of the provider's `RefreshError`. */
const tokenFaults: { fault: TokenFault; code: string; message: RegExp; abandoned: boolean }[] = [
  {
    fault: 500,
    code: 'ERR_TOKEN_SOURCE',
    message: /token endpoint \S+ answered 500 \(server_error\)$/,
    abandoned: false,
  },
  {
    fault: 503,
    code: 'ERR_TOKEN_SOURCE',
    message: /token endpoint \S+ answered 503 \(temporarily_unavailable\)$/,
    abandoned: false,
  },
  // The source's own timeout (1 s here) ends a request that hangs; the server sees it abandoned.
  {
    fault: 'hang',
    code: 'ERR_TOKEN_SOURCE',
    message: /token endpoint \S+ did not answer within 1000 ms$/,
    abandoned: true,
  },
  {
    fault: 'reset',
    code: 'ERR_TOKEN_SOURCE',
    message: /token endpoint \S+ could not be reached \(UND_ERR_SOCKET\)$/,
    abandoned: true,
  },
  {
    fault: 'malformed',
    code: 'ERR_TOKEN_SOURCE',
    message: /token endpoint \S+ answered 200 with a body that is neither JSON nor a form$/,
    abandoned: false,
  },
  {
    fault: 'expired',
    code: 'ERR_REFRESH',
    message: /^token provider "agent-a": fetchToken returned a token that has already expired$/,
    abandoned: false,
  },
  {
    fault: 'other-subject',
    code: 'ERR_CLAIMS_MISMATCH',
    message: /^token provider "agent-a": the token's "sub" claim does not match expectedClaims$/,
    abandoned: false,
  },
]

function expectRefreshError(error: unknown, expected: (typeof tokenFaults)[number]): void {
  expect(error).toBeInstanceOf(RefreshError)
  expect(error).toMatchObject({ code: 'ERR_REFRESH', terminal: false })
  const cause = (error as RefreshError).cause
  expect(isAuthError(cause, expected.code)).toBe(true)
  expect((cause as Error).message).toMatch(expected.message)
  expect((error as Error).message).toBe(
    `token provider "agent-a": refresh failed (attempt 1): ${(cause as Error).message}`,
  )
}

function expectOneRetryingError(errors: TokenProviderEvents['error'][], cause: unknown): void {
  expect(errors).toHaveLength(1)
  const [event] = errors as [TokenProviderEvents['error']]
  expect(event).toMatchObject({ attempt: 1, willRetry: true })
  expect(event.error.cause).toBe(cause)
  // Backoff from 100 ms: jitter only shortens the wait, by up to 20%.
  expect(event.retryInMs).toBeGreaterThanOrEqual(80)
  expect(event.retryInMs).toBeLessThanOrEqual(100)
}

describe.each(tokenFaults)('token endpoint fault: $fault', (expected) => {
  it('with no token yet: callers get the RefreshError at once until the backoff retry, which recovers', async () => {
    const s = await setup()
    s.token.script.push(expected.fault)
    const first = await s.call()
    expectRefreshError(first, expected)
    expectOneRetryingError(s.errors, (first as RefreshError).cause)
    // Inside the backoff nobody hangs and nobody hammers the endpoint: the same error, at once.
    expect(await s.call()).toBe(first)
    expect(s.token.hits.map((hit) => hit.fault)).toEqual([expected.fault])
    expect(s.api.hits).toEqual([])
    // The provider retries on its own timer, and the next call goes through.
    const recovered = s.nextToken()
    s.clock.run()
    expect((await recovered).reason).toBe('initial')
    await expect
      .poll(() => s.token.hits.map((hit) => [hit.fault, hit.abandoned]))
      .toEqual([
        [expected.fault, expected.abandoned],
        ['ok', false],
      ])
    expect(await s.call()).toBe(200)
    expect(s.api.hits.map((hit) => [hit.method, hit.path, hit.status, hit.token])).toEqual([
      ['POST', agentPath, 200, s.token.issued.at(-1)],
    ])
    expect(s.errors).toHaveLength(1)
  })

  it('with a valid token due for refresh: callers keep the token, the refresh retries and recovers', async () => {
    const s = await setup()
    const held = (await s.tokens.getTokenSet()).accessToken
    s.clock.jump(48 * minute) // the refresh point of a 1-hour token
    s.token.script.push(expected.fault)
    const failed = new Promise<void>((resolve) => s.tokens.on('error', () => resolve()))
    expect(await s.call()).toBe(200) // starts the background refresh
    await failed
    expect(s.tokens.state).toBe('stale')
    expect(await s.call()).toBe(200)
    expectOneRetryingError(s.errors, s.errors[0]?.error.cause)
    expectRefreshError(s.errors[0]?.error, expected)
    const next = s.nextToken()
    s.clock.run()
    const recovered = await next
    expect(recovered.reason).toBe('scheduled')
    expect(s.token.hits.map((hit) => hit.fault)).toEqual(['ok', expected.fault, 'ok'])
    expect(await s.call()).toBe(200)
    expect(s.api.hits.map((hit) => hit.status)).toEqual([200, 200, 200])
    expect(s.api.hits.map((hit) => hit.token === held)).toEqual([true, true, false])
    expect(s.api.hits.at(-1)?.token).toBe(recovered.token.accessToken)
  })

  it('with the token expired: callers get the RefreshError, no request reaches the API, then it recovers', async () => {
    const s = await setup()
    await s.tokens.getToken()
    s.clock.jump(hour)
    s.token.script.push(expected.fault)
    const first = await s.call()
    expectRefreshError(first, expected)
    expectOneRetryingError(s.errors, (first as RefreshError).cause)
    expect(await s.call()).toBe(first)
    expect(s.tokens.state).toBe('expired')
    expect(s.api.hits).toEqual([])
    const recovered = s.nextToken()
    s.clock.run()
    expect((await recovered).reason).toBe('expired')
    expect(await s.call()).toBe(200)
    expect(s.token.hits.map((hit) => hit.fault)).toEqual(['ok', expected.fault, 'ok'])
  })
})

describe('token endpoint faults, more', () => {
  it("times out a hang with the provider's refreshTimeoutMs when the source would wait longer", async () => {
    const s = await setup({ sourceTimeoutMs: 10_000, provider: { refreshTimeoutMs: 1_000 } })
    s.token.script.push('hang')
    const started = performance.now()
    const error = await s.call()
    expect(performance.now() - started).toBeGreaterThanOrEqual(990)
    expect(error).toMatchObject({
      name: 'RefreshError',
      code: 'ERR_REFRESH_TIMEOUT',
      message: 'token provider "agent-a": refresh failed (attempt 1): fetchToken did not settle within 1000 ms',
    })
    expect(isAuthError((error as Error).cause, 'ERR_REFRESH_TIMEOUT')).toBe(true)
    // The provider aborted the request: the server sees the client leave.
    await expect.poll(() => s.token.hits.map((hit) => [hit.fault, hit.abandoned])).toEqual([['hang', true]])
    expect(s.errors.map((event) => [event.attempt, event.willRetry])).toEqual([[1, true]])
    const recovered = s.nextToken()
    s.clock.run()
    expect((await recovered).reason).toBe('initial')
    expect(await s.call()).toBe(200)
  })

  it.each([
    [[503, 'ok'], 2, undefined],
    [['reset', 'ok'], 2, undefined],
    [[500, 500, 'ok'], 3, undefined],
    [[500, 500, 500], 3, /answered 500 \(server_error\)$/],
    [['hang'], 1, /did not answer within 1000 ms$/],
    [['malformed'], 1, /answered 200 with a body that is neither JSON nor a form$/],
  ] as [TokenFault[], number, RegExp | undefined][])(
    "lets the source's own retries (retry: 2) ride out %j: %i requests",
    async (script, hits, failure) => {
      const s = await setup({ sourceRetry: 2 })
      s.token.script.push(...script)
      const outcome = await s.call()
      expect(s.token.hits).toHaveLength(hits)
      if (failure === undefined) {
        expect(outcome).toBe(200)
        expect(s.errors).toEqual([])
      } else {
        expect(outcome).toBeInstanceOf(RefreshError)
        expect(((outcome as RefreshError).cause as Error).message).toMatch(failure)
        expect(s.errors.map((event) => [event.attempt, event.willRetry])).toEqual([[1, true]])
      }
    },
  )

  it('keeps serving the held token when the endpoint answers with that same token while it is valid', async () => {
    const s = await setup({ expiresIn: false })
    const held = await s.tokens.getToken()
    s.clock.jump(48 * minute)
    s.token.fallback = 'same'
    expect(await s.call()).toBe(200)
    // The pull answers with the token it already had (a caching endpoint does this): no refresh,
    // so it backs off like a failure instead of asking again every second, and says so.
    await expect.poll(() => s.token.hits.length).toBeGreaterThanOrEqual(2)
    expect(await s.call()).toBe(200)
    expect(s.tokens.current?.accessToken).toBe(held)
    expect(s.api.hits.every((hit) => hit.token === held)).toBe(true)
    await expect.poll(() => s.errors.length).toBe(1)
    expect(s.errors[0]).toMatchObject({ attempt: 1, willRetry: true })
    expect((s.errors[0]?.error.cause as Error | undefined)?.message).toBe(
      'token provider "agent-a": fetchToken returned the token the provider already holds',
    )
  })

  it('refuses the same token again right after a server rejected it: the caller gets the 401, then recovery', async () => {
    const s = await setup()
    const held = await s.tokens.getToken()
    s.api.revoked.add(held)
    s.token.script.push('same')
    expect(await s.call()).toBe(401)
    expect(s.unauthorized).toEqual([{ url: `${s.api.origin}${agentPath}`, status: 401, retried: false }])
    expect(s.retries).toEqual([])
    expect(s.errors).toHaveLength(1)
    expect(s.errors[0]?.error.cause).toMatchObject({
      message: 'token provider "agent-a": fetchToken returned the token a server just rejected',
    })
    // The rejected token is no longer served: inside the backoff, callers get the error at once.
    expect(await s.call()).toBe(s.errors[0]?.error)
    expect(s.api.hits).toHaveLength(1)
    const recovered = s.nextToken()
    s.clock.run()
    expect((await recovered).reason).toBe('unauthorized')
    expect(await s.call()).toBe(200)
    expect(s.token.hits.map((hit) => hit.fault)).toEqual(['ok', 'same', 'ok'])
  })

  it('takes the earlier of expires_in and the JWT exp: an expired JWT sent with a fresh expires_in is refused, never sent', async () => {
    const s = await setup()
    const held = await s.tokens.getToken()
    s.clock.jump(hour)
    // The endpoint hands back the (now expired) token with `expires_in: 3600`, as a stale cache would.
    s.token.script.push('same')
    const outcome = await s.call()
    expect(outcome).toBeInstanceOf(RefreshError)
    expect(((outcome as RefreshError).cause as Error).message).toBe(
      'token provider "agent-a": fetchToken returned a token that has already expired',
    )
    expect(s.api.hits).toEqual([])
    // After the backoff, the next token is a fresh one.
    s.clock.jump(s.errors.at(-1)?.retryInMs ?? 0)
    expect(await s.call()).toBe(200)
    expect(s.installed.map((event) => event.reason)).toEqual(['initial', 'expired'])
    expect(s.installed[1]?.token.accessToken).not.toBe(held)
    expect(s.api.hits.map((hit) => hit.status)).toEqual([200])
    expect(s.token.hits.map((hit) => hit.fault)).toEqual(['ok', 'same', 'ok'])
  })
})

describe('API faults', () => {
  it('replays once with a fresh token when the API revokes the token before its exp: 2 hits, 1 fetch', async () => {
    const s = await setup()
    const held = await s.tokens.getToken()
    s.api.revoked.add(held)
    expect(await s.call()).toBe(200)
    expect(s.api.hits.map((hit) => [hit.status, hit.token === held])).toEqual([
      [401, true],
      [200, false],
    ])
    expect(s.token.hits).toHaveLength(2)
    expect(s.retries).toEqual([{ url: `${s.api.origin}${agentPath}` }])
    expect(s.installed.map((event) => event.reason)).toEqual(['initial', 'unauthorized'])
    expect(s.unauthorized).toEqual([])
  })

  it('makes one token fetch for a burst of 25 requests meeting one revoked token', async () => {
    const s = await setup()
    s.api.revoked.add(await s.tokens.getToken())
    const statuses = await Promise.all(Array.from({ length: 25 }, () => s.call()))
    expect(statuses).toEqual(Array(25).fill(200))
    expect(s.token.hits).toHaveLength(2)
    expect(s.api.hits.filter((hit) => hit.status === 401)).toHaveLength(25)
    expect(s.api.hits.filter((hit) => hit.status === 200)).toHaveLength(25)
    expect(s.retries).toHaveLength(25)
  })

  it('returns the 401 after exactly one replay when the API revokes every token', async () => {
    const s = await setup()
    // Every token is revoked as soon as it is installed, the first one included.
    s.tokens.on('token', (event) => s.api.revoked.add(event.token.accessToken))
    await s.tokens.getToken()
    for (let i = 1; i <= 3; i++) {
      expect(await s.call()).toBe(401)
      expect(s.api.hits).toHaveLength(2 * i)
      // The replay's token was refused too, so it is replaced before the next request: two grants a request.
      await s.tokens.getToken()
      expect(s.token.hits).toHaveLength(1 + 2 * i)
    }
    expect(s.api.hits.every((hit) => hit.status === 401)).toBe(true)
    expect(s.retries).toHaveLength(3)
    expect(s.unauthorized).toEqual(Array(3).fill({ url: `${s.api.origin}${agentPath}`, status: 401, retried: true }))
  })

  it('returns the 401 when the token is revoked while the token endpoint is down, then fails fast, then recovers', async () => {
    const s = await setup()
    s.api.revoked.add(await s.tokens.getToken())
    s.token.script.push(503)
    expect(await s.call()).toBe(401)
    expect(s.unauthorized).toEqual([{ url: `${s.api.origin}${agentPath}`, status: 401, retried: false }])
    expect(s.errors).toHaveLength(1)
    // The rejected token is not sent again: callers get the RefreshError, without a request.
    expect(await s.call()).toBe(s.errors[0]?.error)
    expect(s.api.hits).toHaveLength(1)
    const recovered = s.nextToken()
    s.clock.run()
    expect((await recovered).reason).toBe('unauthorized')
    expect(await s.call()).toBe(200)
    expect(s.token.hits.map((hit) => hit.fault)).toEqual(['ok', 503, 'ok'])
  })

  it('neither retries nor refreshes on a 500 or a reset connection from the API', async () => {
    const s = await setup()
    await s.tokens.getToken()
    s.api.script.push(500, 'reset')
    expect(await s.call()).toBe(500)
    const reset = await s.client.fetch(agentPath).catch((error: unknown) => error)
    expect(reset).toBeInstanceOf(TypeError)
    expect((reset as Error).message).toBe('fetch failed')
    expect(s.api.hits.map((hit) => hit.status)).toEqual([500, 0])
    expect(s.token.hits).toHaveLength(1)
    expect(s.tokens.state).toBe('fresh')
    expect(await s.call()).toBe(200)
  })
})

describe('clock skew', () => {
  // The issuer and the API share a clock, `skewMs` off ours: the API checks `exp` on the issuer's
  // clock, as real resource servers do. The provider's clock is frozen at whole seconds, so every
  // boundary is exact to the millisecond. The endpoint's `Date` header is on the real clock, months
  // away from this test's, so the provider ignores it and estimates the issuer's clock from the `iat`
  // of the token it fetched: the evidence is whole seconds, and a frozen clock puts the issuer time
  // anywhere in [iat, iat + 1 s), so a skewed estimate takes the safe end, 1 s older. A correct clock
  // keeps an estimate of exactly 0, and 0.1's schedule.
  const cases = [10 * minute, -10 * minute, 0].flatMap((skewMs) =>
    [8 * hour, hour].flatMap((lifetimeMs) => [false, true].map((expiresIn) => ({ skewMs, lifetimeMs, expiresIn }))),
  )

  it.each(cases)(
    'issuer clock $skewMs ms off, $lifetimeMs ms tokens, expires_in sent: $expiresIn',
    async ({ skewMs, lifetimeMs, expiresIn }) => {
      const clock = testClock(T0)
      const issuerNow = () => clock.now() + skewMs
      const token = await startFaultyTokenServer({ now: clock.now, lifetimeMs, skewMs, expiresIn })
      const api = await startFaultyApiServer({ now: issuerNow })
      const tokens = createTokenProvider({
        fetchToken: clientCredentials({ tokenUrl: token.tokenUrl, clientId: 'agent-a', clientSecret: 's', retry: 0 }),
        now: clock.now,
        refreshJitterRatio: 0,
      })
      onTestFinished(() => tokens.dispose())
      const events = record(tokens, 'token')
      const client = new RefreshingClient({ tokens, baseUrl: api.origin })
      const call = async () => (await client.fetch(agentPath)).status
      expect(await call()).toBe(200)
      const held = tokens.current?.accessToken as string
      const exp = (JSON.parse(Buffer.from(held.split('.')[1] as string, 'base64url').toString()) as { exp: number }).exp
      const offsetMs = skewMs === 0 ? 0 : skewMs + second
      expect(events.map((event) => event.clockOffsetMs)).toEqual([offsetMs])
      // Times in the token set are the issuer's; the earlier expiry (here both agree) is kept.
      expect(tokens.current?.expiresAt).toBe(exp * 1000)
      // Where the schedule must put the refresh and expired points, on our clock.
      const refreshAt = T0 + skewMs - offsetMs + 0.8 * lifetimeMs
      const expiredAt = T0 + skewMs - offsetMs + lifetimeMs - 30 * second
      expect(expiredAt).toBeLessThan(exp * 1000 - skewMs) // the API accepts the token until its exp
      for (const [at, state] of [
        [refreshAt - 1, 'fresh'],
        [refreshAt, 'stale'],
        [expiredAt - 1, 'stale'],
        [expiredAt, 'expired'],
      ] as const) {
        clock.set(at)
        expect(tokens.state).toBe(state)
      }
      clock.set(refreshAt - 1)
      expect(await call()).toBe(200)
      expect(token.hits).toHaveLength(1)
      clock.set(refreshAt)
      const refreshed = new Promise<TokenProviderEvents['token']>((resolve) => tokens.on('token', resolve))
      expect(await call()).toBe(200)
      expect((await refreshed).reason).toBe('scheduled')
      expect(token.hits).toHaveLength(2)
      expect(api.hits.map((hit) => [hit.status, hit.token === held])).toEqual([
        [200, true],
        [200, true],
        [200, true],
      ])
    },
  )
})
