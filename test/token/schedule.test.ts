import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { providerDefaults } from '../../src/index.js'
import { maxTimerDelayMs, Timer } from '../../src/internal/timer.js'
import { backoffDelay, scheduleFor, type Timing } from '../../src/token/schedule.js'

const noJitter: Timing = { ...providerDefaults, refreshJitterRatio: 0 }
const hour = 3_600_000

/** armedDelay sets a Timer (the provider's) for `at` on a clock standing at `now`, and returns the delay it gave setTimeout. */
function armedDelay(now: number, at: number): number {
  const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout')
  const timer = new Timer(
    () => now,
    () => {},
  )
  try {
    timer.set(at)
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1)
    return setTimeoutSpy.mock.calls[0]?.[1] as number
  } finally {
    timer.clear()
    setTimeoutSpy.mockRestore()
  }
}

describe('scheduleFor', () => {
  it('refreshes an 8-hour token at 80% of its lifetime', () => {
    const schedule = scheduleFor({ accessToken: 't', issuedAt: 0, expiresAt: 8 * hour }, 0, noJitter, Math.random)
    expect(schedule).toEqual({ refreshAt: 6.4 * hour, expiredAt: 8 * hour - 30_000 })
  })

  it('shrinks the lead and the skew for a 3-second token, which refreshes at 2.4 s', () => {
    const schedule = scheduleFor({ accessToken: 't', issuedAt: 0, expiresAt: 3_000 }, 0, noJitter, Math.random)
    expect(schedule.refreshAt).toBe(2_400)
    expect(schedule.expiredAt).toBe(2_700)
  })

  it('measures the lifetime from receipt when the token has no issue time', () => {
    const schedule = scheduleFor({ accessToken: 't', expiresAt: 11 * hour }, 1 * hour, noJitter, Math.random)
    expect(schedule.refreshAt).toBe(9 * hour)
  })

  it('moves every point earlier for an issuer whose clock is ahead', () => {
    const ahead = 10 * 60_000
    const schedule = scheduleFor(
      { accessToken: 't', issuedAt: ahead, expiresAt: ahead + hour },
      0,
      noJitter,
      Math.random,
    )
    expect(schedule).toEqual({ refreshAt: 0.8 * hour, expiredAt: hour - 30_000 })
  })

  it('stays finite for a receipt time so far off that the lifetime would overflow', () => {
    const schedule = scheduleFor(
      { accessToken: 't', expiresAt: 1.0977121702440959e293 },
      -1.7976931348623147e308,
      { refreshAtRatio: 0.01, refreshLeadMs: 0, clockSkewMs: 0, refreshJitterRatio: 5e-324 },
      () => 0,
    )
    expect(Number.isFinite(schedule.refreshAt) && Number.isFinite(schedule.expiredAt)).toBe(true)
    expect(schedule.refreshAt).toBeLessThanOrEqual(schedule.expiredAt)
  })

  it('never refreshes a token with unknown expiry on a timer', () => {
    expect(scheduleFor({ accessToken: 't' }, 0, noJitter, Math.random)).toEqual({
      refreshAt: Number.POSITIVE_INFINITY,
      expiredAt: Number.POSITIVE_INFINITY,
    })
  })

  it('jitters only earlier, by at most refreshJitterRatio of the wait', () => {
    const token = { accessToken: 't', issuedAt: 0, expiresAt: 10 * hour }
    expect(scheduleFor(token, 0, providerDefaults, () => 0).refreshAt).toBe(8 * hour)
    expect(scheduleFor(token, 0, providerDefaults, () => 0.999_999).refreshAt).toBeCloseTo(7.2 * hour, -1)
  })

  it('keeps every timer delay in [0, 2^31 − 1] and refreshes before expiry minus the skew when it can', () => {
    const options = fc.record({
      refreshAtRatio: fc.double({ min: 0.01, max: 1, noNaN: true }),
      refreshLeadMs: fc.integer({ min: 0, max: 10 * hour }),
      clockSkewMs: fc.integer({ min: 0, max: hour }),
      refreshJitterRatio: fc.double({ min: 0, max: 0.99, noNaN: true }),
    })
    const year = 365 * 24 * hour
    fc.assert(
      fc.property(
        options,
        fc.integer({ min: 0, max: 100 * year }),
        fc.integer({ min: 1, max: 10 * year }),
        fc.integer({ min: -year, max: 2 * year }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (timing, issuedAt, lifetime, offset, random) => {
          const token = { accessToken: 't', issuedAt, expiresAt: issuedAt + lifetime }
          const now = issuedAt + offset
          const { refreshAt, expiredAt } = scheduleFor(token, now, timing, () => random)
          // The delay the library's timer hands setTimeout for this refresh, not one computed here.
          const delay = armedDelay(now, refreshAt)
          expect(delay).toBeGreaterThanOrEqual(0)
          expect(delay).toBeLessThanOrEqual(maxTimerDelayMs)
          expect(refreshAt).toBeLessThanOrEqual(expiredAt)
          expect(expiredAt).toBeLessThanOrEqual(token.expiresAt)
          const start = Math.min(issuedAt, token.expiresAt)
          if ((1 - timing.refreshAtRatio) * lifetime > timing.clockSkewMs) {
            expect(refreshAt).toBeLessThan(token.expiresAt - timing.clockSkewMs)
          }
          expect(refreshAt).toBeGreaterThanOrEqual(Math.min(start, now))
        },
      ),
      { numRuns: 10_000 },
    )
  })
})

describe('backoffDelay', () => {
  const retry = { baseDelayMs: 1_000, maxDelayMs: 30_000 }

  it('doubles from the base to the cap, and jitter only shortens a wait by up to 20%', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 60].map((n) => backoffDelay(n, retry, () => 0))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ])
    expect(backoffDelay(3, retry, () => 0.999_999)).toBe(3_200)
  })

  it('grows with every attempt until the cap, whatever the jitter', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 4 }),
        (a, b, n) => {
          expect(backoffDelay(n + 1, retry, () => a)).toBeGreaterThan(backoffDelay(n, retry, () => b))
        },
      ),
    )
  })
})
