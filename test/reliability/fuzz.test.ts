import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createTokenProvider,
  isAuthError,
  parseToken,
  providerDefaults,
  TokenDecodeError,
  type TokenInput,
  type TokenProvider,
  type TokenSet,
} from '../../src/index.js'
import { clampDelay, maxTimerDelayMs, pendingTimers } from '../../src/internal/timer.js'
import { scheduleFor, type Timing } from '../../src/token/schedule.js'

// Fuzzing with fast-check, 10,000 runs per property: parseToken on anything, the refresh schedule
// on anything parseToken accepts, and every timer delay a provider arms. (The push handler's fuzz
// lives in test/push/handler.test.ts.)

const runs = { numRuns: 10_000 }
const second = 1_000
const hour = 3_600_000
/** The largest epoch ms a `Date` can hold. */
const dateLimitMs = 8.64e15

const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url')

/** Claim values of every JSON type, with the numbers that break naive code. */
const claimValue = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.integer({ min: 0, max: 4_102_444_800 }), // plausible epoch seconds, to 2100
  fc.constantFrom(0, -0, 0.5, -1, 2 ** 31, 2 ** 53, 1e21, 1.7976931348623157e308, -1e308, 5e-324),
  fc.string(),
  fc.constantFrom('1700000000', '', 'soon', '1e3'),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
)

/** A payload: the registered claims in any type, plus arbitrary others. */
const payload = fc
  .tuple(
    fc.record({ exp: claimValue, iat: claimValue, nbf: claimValue, sub: claimValue }, { requiredKeys: [] }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  )
  .map(([registered, other]) => JSON.stringify({ ...other, ...registered }))

/** A payload segment: JSON of any shape, JSON that parses to numbers JSON.stringify cannot write, or garbage. */
const payloadSegment = fc.oneof(
  payload.map(base64url),
  fc.jsonValue().map((value) => base64url(JSON.stringify(value) ?? 'null')),
  fc
    .constantFrom(
      '{"exp":1e999}',
      '{"exp":-1e999,"iat":1}',
      '{"iat":1e400,"exp":1e401}',
      '{"exp":1e305,"iat":1e304}',
      '{"exp":1,"exp":"later"}',
      '{"__proto__":{"exp":1}}',
      '{"exp":2e9,"iat":1e9,"nbf":3e9}',
      '[]',
      'null',
      '"claims"',
      '{',
      '',
    )
    .map(base64url),
  fc.string().map(base64url),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.base64String({ maxLength: 40 }),
)

/** A JWT-shaped string: three segments, each possibly broken. */
const jwtShaped = fc
  .tuple(
    fc.oneof(
      fc.jsonValue().map((h) => base64url(JSON.stringify(h) ?? 'null')),
      fc.string({ maxLength: 20 }),
    ),
    payloadSegment,
    fc.oneof(fc.constant(''), fc.base64String({ maxLength: 43 }), fc.string({ maxLength: 10 })),
  )
  .map(([header, body, signature]) => `${header}.${body}.${signature}`)

/** Objects shaped like a TokenInput, with fields of every type, and anything else. */
const tokenObject = fc.oneof(
  fc.record(
    {
      accessToken: fc.oneof(fc.string(), jwtShaped, claimValue),
      expiresIn: fc.oneof(claimValue, fc.double(), fc.constantFrom(1e306, Number.MAX_VALUE)),
      expiresAt: fc.oneof(claimValue, fc.double()),
      issuedAt: fc.oneof(claimValue, fc.double()),
      refreshToken: claimValue,
      tokenType: claimValue,
      scope: claimValue,
    },
    { requiredKeys: [] },
  ),
  fc.anything(),
)

/** parseToken's contract: a usable TokenSet, or a TokenDecodeError that does not quote the input. */
function expectParsedOrRefused(input: unknown): TokenSet | undefined {
  let set: TokenSet
  try {
    set = parseToken(input as TokenInput, { now: Date.UTC(2026, 0, 1) })
  } catch (error) {
    expect(error).toBeInstanceOf(TokenDecodeError)
    expect(isAuthError(error, 'ERR_TOKEN_DECODE')).toBe(true)
    const quoted = typeof input === 'string' ? input : (input as { accessToken?: unknown } | null)?.accessToken
    if (typeof quoted === 'string' && quoted.length >= 16) expect((error as Error).message).not.toContain(quoted)
    return undefined
  }
  expect(typeof set.accessToken).toBe('string')
  expect(set.accessToken.length).toBeGreaterThan(0)
  // Whitespace around a token is trimmed where it enters; none is ever left in it.
  if (typeof input === 'string') expect(set.accessToken).toBe(input.trim())
  expect(/\s/.test(set.accessToken)).toBe(false)
  for (const time of [set.expiresAt, set.issuedAt]) {
    if (time !== undefined) expect(Number.isFinite(time)).toBe(true)
  }
  // `expiresIn` of 0 or less is "unknown": never a token that expires as it arrives.
  if (set.expiresAt !== undefined && set.issuedAt !== undefined) {
    expect(set.expiresAt).toBeGreaterThanOrEqual(set.issuedAt)
  }
  return set
}

describe('parseToken, fuzzed', () => {
  it('returns a usable TokenSet or throws a TokenDecodeError for any string', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.stringMatching(/^[\w-]*\.[\w-]*\.[\w-]*$/)),
        (s) => {
          expectParsedOrRefused(s)
        },
      ),
      runs,
    )
  })

  it('does so for JWT-shaped strings with any header, any payload and claims of every type', () => {
    let accepted = 0
    fc.assert(
      fc.property(jwtShaped, (token) => {
        if (expectParsedOrRefused(token) !== undefined) accepted++
      }),
      runs,
    )
    // The generator reaches both outcomes, or the property proves little.
    expect(accepted).toBeGreaterThan(500)
    expect(accepted).toBeLessThan(9_500)
  })

  it('does so for objects with fields of every type, and for anything at all', () => {
    fc.assert(
      fc.property(tokenObject, (input) => {
        expectParsedOrRefused(input)
      }),
      runs,
    )
  })
})

describe('the refresh schedule, fuzzed', () => {
  const timing = fc.record({
    refreshAtRatio: fc.double({ min: 0.01, max: 1, noNaN: true }),
    refreshLeadMs: fc.oneof(fc.integer({ min: 0, max: 10 * hour }), fc.constant(providerDefaults.refreshLeadMs)),
    clockSkewMs: fc.oneof(fc.integer({ min: 0, max: hour }), fc.constant(providerDefaults.clockSkewMs)),
    refreshJitterRatio: fc.double({ min: 0, max: 0.99, noNaN: true }),
  })
  /** JWTs with numeric claims anywhere in the range of doubles, and within the range of dates. */
  const numericClaim = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: -dateLimitMs / 1000, max: dateLimitMs / 1000 }),
    fc.integer({ min: 1_600_000_000, max: 1_900_000_000 }),
  )
  const token = fc
    .record({ exp: numericClaim, iat: numericClaim }, { requiredKeys: [] })
    .map((claims) => `${base64url('{"alg":"none"}')}.${base64url(JSON.stringify(claims))}.`)
  const receivedAt = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  )

  it('keeps delays in [0, 2^31 − 1] and refreshes before expiry minus the skew whenever the lifetime allows', () => {
    let scheduled = 0
    fc.assert(
      fc.property(
        token,
        timing,
        receivedAt,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (jwt, t, now, r) => {
          let set: TokenSet
          try {
            set = parseToken(jwt)
          } catch {
            return
          }
          const { refreshAt, expiredAt } = scheduleFor(set, now, t as Timing, () => r)
          if (set.expiresAt === undefined) {
            expect([refreshAt, expiredAt]).toEqual([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY])
            return
          }
          scheduled++
          expect(Number.isNaN(refreshAt) || Number.isNaN(expiredAt)).toBe(false)
          for (const point of [refreshAt, expiredAt]) {
            const delay = clampDelay(point - now)
            expect(Number.isInteger(delay) && delay >= 0 && delay <= maxTimerDelayMs).toBe(true)
          }
          expect(refreshAt).toBeLessThanOrEqual(expiredAt)
          // Within the range of dates, every millisecond counts (beyond it, doubles are coarser than
          // that); fractional seconds (`"exp": 1.5`) make fractional milliseconds, which timers lack.
          const inRange = [set.expiresAt, set.issuedAt ?? 0, now].every((ms) => Math.abs(ms) <= dateLimitMs)
          if (!inRange) return
          expect(expiredAt - set.expiresAt).toBeLessThan(1)
          const start = Math.min(set.issuedAt ?? now, set.expiresAt)
          const lifetime = set.expiresAt - start
          if (set.issuedAt !== undefined && set.issuedAt <= now && (1 - t.refreshAtRatio) * lifetime > t.clockSkewMs) {
            expect(refreshAt).toBeLessThan(set.expiresAt - t.clockSkewMs)
          }
        },
      ),
      runs,
    )
    expect(scheduled).toBeGreaterThan(3_000)
  })
})

describe('provider timers, fuzzed', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  // Steps: calls, a push, the next timer firing, or a jump of the clock with no timer firing (a
  // laptop asleep, a frozen container).
  type Step = { kind: 'get' | 'refresh' | 'invalidate' | 'push' | 'next' } | { kind: 'jump'; ms: number }
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.constantFrom<Step>(
      { kind: 'get' },
      { kind: 'refresh' },
      { kind: 'invalidate' },
      { kind: 'push' },
      { kind: 'next' },
    ),
    fc.record({ kind: fc.constant('jump' as const), ms: fc.integer({ min: 0, max: 40 * 24 * hour }) }),
  )
  const lifetime = fc.oneof(
    fc.integer({ min: 1, max: 10 * second }),
    fc.integer({ min: 1, max: 10 * hour }),
    fc.integer({ min: 1, max: 400 * 24 * hour }),
  )
  const options = fc.record({
    refreshAtRatio: fc.double({ min: 0.01, max: 1, noNaN: true }),
    refreshLeadMs: fc.integer({ min: 0, max: 3 * hour }),
    clockSkewMs: fc.integer({ min: 0, max: hour }),
    // Above 2^31 − 1 ms the throttle's wait is not clamped (reported with issue 9); up to it, it is.
    minRefreshIntervalMs: fc.integer({ min: 0, max: maxTimerDelayMs }),
    refreshJitterRatio: fc.double({ min: 0, max: 0.99, noNaN: true }),
    refreshTimeoutMs: fc.oneof(fc.integer({ min: 1, max: 40 * 24 * hour }), fc.constant(Number.POSITIVE_INFINITY)),
    retry: fc.record({
      baseDelayMs: fc.integer({ min: 0, max: 60_000 }),
      maxDelayMs: fc.integer({ min: 60_000, max: 40 * 24 * hour }),
    }),
  })

  it('arms only whole-millisecond delays in [0, 2^31 − 1], and leaves no timer after dispose', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) })
    const delays: unknown[] = []
    const realSetTimeout = globalThis.setTimeout
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: () => void, ms?: number) => {
      delays.push(ms)
      return realSetTimeout(callback, ms)
    }) as typeof setTimeout)
    await fc.assert(
      fc.asyncProperty(
        options,
        lifetime,
        fc.array(fc.oneof(lifetime, fc.constant(-1)), { minLength: 1, maxLength: 4 }),
        fc.array(step, { maxLength: 6 }),
        async (opts, first, answers, steps) => {
          delays.length = 0
          let served = 0
          const make = (lifetimeMs: number): TokenInput => ({
            accessToken: `t${++served}`,
            expiresAt: Date.now() + lifetimeMs,
            issuedAt: Date.now(),
          })
          const tokens: TokenProvider = createTokenProvider({
            ...opts,
            initialToken: make(first),
            // Each answer is a token of that lifetime, or a failure (-1).
            fetchToken: async () => {
              const answer = answers[served % answers.length] as number
              if (answer < 0) throw new Error('token endpoint down')
              return make(answer)
            },
          })
          for (const s of steps) {
            if (s.kind === 'get') tokens.getToken().catch(() => {})
            else if (s.kind === 'refresh') tokens.refresh().catch(() => {})
            else if (s.kind === 'invalidate') tokens.invalidate(tokens.current?.accessToken ?? '')
            else if (s.kind === 'push') tokens.setToken(make(first))
            else if (s.kind === 'next') await vi.advanceTimersToNextTimerAsync()
            else if ('ms' in s) vi.setSystemTime(Date.now() + s.ms)
          }
          tokens.dispose()
          for (const delay of delays) {
            expect(typeof delay === 'number' && Number.isInteger(delay) && delay >= 0 && delay <= maxTimerDelayMs).toBe(
              true,
            )
          }
          expect(vi.getTimerCount()).toBe(0)
          expect(pendingTimers()).toBe(0)
        },
      ),
      runs,
    )
  }, 120_000)
})
