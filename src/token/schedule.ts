import type { TokenSet } from './token-set.js'

/**
 * providerDefaults are the provider's defaults, one place for all of them. Times are milliseconds.
 *
 * @example
 * ```ts
 * providerDefaults.refreshLeadMs // 60_000
 * createTokenProvider({ fetchToken, refreshLeadMs: providerDefaults.refreshLeadMs * 5 }) // 5 minutes ahead
 * ```
 */
export const providerDefaults = Object.freeze({
  /** Refresh once this fraction of the token's lifetime has passed. */
  refreshAtRatio: 0.8,
  /** The lead before expiry, at most; it shrinks to `(1 − refreshAtRatio) × lifetime` for short tokens. */
  refreshLeadMs: 60_000,
  /** A token this close to expiry counts as expired; at most half the effective lead. */
  clockSkewMs: 30_000,
  /** Unforced refreshes (timer, `getToken`) start at most once per this interval. */
  minRefreshIntervalMs: 1_000,
  /** Refresh points move earlier by up to this fraction of the wait, so a fleet spreads out; 0 turns it off. */
  refreshJitterRatio: 0.1,
  /** A refresh that has not settled after this long fails with `ERR_REFRESH_TIMEOUT`. */
  refreshTimeoutMs: 30_000,
  /** The fleet's refresh lease: how long one process may take to refresh for all before another takes over. */
  storeLeaseMs: 5_000,
  /** Every call to the fleet's token store gives up after this long; the provider then goes on locally. */
  storeTimeoutMs: 2_000,
  /** Failed refreshes back off exponentially from `baseDelayMs` to `maxDelayMs`, up to 20% earlier at random. */
  retry: Object.freeze({
    /** Consecutive failed attempts before giving up (state `failed`). */
    attempts: Number.POSITIVE_INFINITY,
    /** The first wait after a failure. */
    baseDelayMs: 1_000,
    /** The longest wait. */
    maxDelayMs: 30_000,
  }),
})

/** The span of JavaScript dates, 2 × 8.64e15 ms: no real lifetime is longer. */
const maxLifetimeMs = 1.728e16

/** The timing options the schedule depends on. */
export interface Timing {
  refreshAtRatio: number
  refreshLeadMs: number
  clockSkewMs: number
  refreshJitterRatio: number
}

/** When to act on one token, in local epoch ms. */
export interface Schedule {
  /** SHOULD refresh from here on: in the background, while the token is still served. */
  refreshAt: number
  /** MUST refresh from here on: the token counts as expired (expiry minus the clock skew). */
  expiredAt: number
}

/**
 * scheduleFor computes when to refresh `token`, received at `receivedAt`.
 *
 * The rules, for a token with a known expiry:
 * - lifetime = expiresAt − start, where start = issuedAt (the JWT `iat`), or the time we received
 *   the token when it has no issue time;
 * - lead = min(refreshLeadMs, (1 − refreshAtRatio) × lifetime), so short tokens do not loop;
 * - refresh point = min(start + refreshAtRatio × lifetime, expiresAt − lead), then moved earlier
 *   by a random amount of up to refreshJitterRatio × (refresh point − start);
 * - expired point = expiresAt − min(clockSkewMs, lead / 2).
 * A token issued "in the future" comes from an issuer whose clock is ahead: every point moves
 * earlier by the difference, which is always the safe direction.
 * A token with no known expiry is never refreshed on a timer; a 401 replaces it.
 */
export function scheduleFor(token: TokenSet, receivedAt: number, timing: Timing, random: () => number): Schedule {
  const { expiresAt, issuedAt } = token
  if (expiresAt === undefined) return { refreshAt: Number.POSITIVE_INFINITY, expiredAt: Number.POSITIVE_INFINITY }
  const shift = issuedAt !== undefined && issuedAt > receivedAt ? issuedAt - receivedAt : 0
  const end = expiresAt - shift
  // A lifetime longer than the range of dates (a clock gone wild) is cut to it, so no arithmetic
  // below can overflow to Infinity.
  const start = Math.max(Math.min(issuedAt === undefined ? receivedAt : issuedAt - shift, end), end - maxLifetimeMs)
  const lifetime = end - start
  const lead = Math.min(timing.refreshLeadMs, (1 - timing.refreshAtRatio) * lifetime)
  // Offsets from `start`, in whole milliseconds rounded down: timers have no finer resolution,
  // earlier is the safe side, and adding small offsets to large epoch times would round up.
  const wait = Math.min(timing.refreshAtRatio * lifetime, lifetime - lead)
  const jitter = timing.refreshJitterRatio > 0 ? random() * timing.refreshJitterRatio * wait : 0
  return {
    refreshAt: start + Math.floor(wait - jitter),
    expiredAt: start + Math.floor(lifetime - Math.min(timing.clockSkewMs, lead / 2)),
  }
}

/**
 * backoffDelay is the wait after the `attempt`-th consecutive failure (1-based): exponential from
 * `baseDelayMs`, capped at `maxDelayMs`, and up to 20% shorter at random so that many providers
 * do not retry in lockstep, while each wait stays longer than the one before it until the cap.
 */
export function backoffDelay(
  attempt: number,
  retry: { baseDelayMs: number; maxDelayMs: number },
  random: () => number,
): number {
  const exponential = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.min(attempt - 1, 52))
  return Math.round(exponential * (1 - 0.2 * random()))
}
