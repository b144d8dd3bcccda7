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
}
