import { decodeClaims, type TokenInput } from './token-set.js'

/**
 * The largest clock offset believed: the local clock may be an hour off the issuer's (a laptop
 * after sleep, a VM or container without NTP), and the evidence has whole-second resolution, so an
 * hour off can read as 3,601 s. Evidence beyond this is not a clock at all: a token issued long
 * ago (a cached or long-lived one) has an old `iat`, and a server may send a wrong `Date`.
 */
export const maxClockOffsetMs = 3_660_000

/**
 * ClockOffset estimates the issuer's clock minus the local clock from evidence: an issuer time in
 * whole seconds (a `Date` header, a fresh token's `iat`) that was current at some local instant
 * between `sentAt` and `receivedAt`.
 *
 * Each piece of evidence bounds the offset to an interval. The estimate stays where it is while it
 * lies inside (so a correct clock keeps an offset of exactly 0, and 0.1's schedule), and otherwise
 * moves to the interval's upper end: a larger offset makes tokens look older, never fresher, which
 * is the safe side. The latest evidence wins, so a clock that jumps (NTP after a sleep) is followed.
 */
export class ClockOffset {
  #offsetMs: number | undefined

  /** The estimate in ms (issuer − local), or `undefined` before any evidence. */
  get offsetMs(): number | undefined {
    return this.#offsetMs
  }

  /**
   * observe records that the issuer's clock read `issuerTime` (epoch ms, truncated to the second)
   * at a local instant in `[sentAt, receivedAt]`. Returns false, and changes nothing, for evidence
   * outside ±{@link maxClockOffsetMs}.
   */
  observe(issuerTime: number, sentAt: number, receivedAt: number): boolean {
    const low = issuerTime - receivedAt
    const high = issuerTime + 1000 - sentAt
    if (!(high >= -maxClockOffsetMs && low <= maxClockOffsetMs)) return false
    const current = this.#offsetMs ?? 0
    this.#offsetMs = current >= low && current <= high ? current : Math.min(high, maxClockOffsetMs)
    return true
  }

  /**
   * learn takes the evidence of one `fetchToken` call, sent at `sentAt` and answered at
   * `receivedAt` (local ms): the endpoint's `Date` header when the source reported one (unless it is
   * wildly off), else the `iat` of the token fetched, unless that is the token already held (a
   * caching endpoint's old token is no evidence of the time). Pushed and stored tokens never are.
   */
  learn(
    date: { value: number; at: number } | undefined,
    input: TokenInput,
    held: string | undefined,
    sentAt: number,
    receivedAt: number,
  ): void {
    if (date !== undefined && this.observe(date.value, sentAt, date.at)) return
    const issuedAt = issuedAtOf(input, held)
    if (issuedAt !== undefined) this.observe(issuedAt, sentAt, receivedAt)
  }
}

// The `iat` of a JWT that `fetchToken` returned, unless it is the token we already hold.
function issuedAtOf(input: TokenInput, held: string | undefined): number | undefined {
  const raw = typeof input === 'string' ? input : (input as { accessToken?: unknown } | null)?.accessToken
  if (typeof raw !== 'string') return undefined
  const token = raw.trim()
  if (token === held) return undefined
  try {
    const iat = decodeClaims(token)?.iat
    return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : undefined
  } catch {
    return undefined // parseToken reports a malformed token, with its own message
  }
}
