/** The longest delay `setTimeout` accepts; longer ones fire at once (and warn on Node). */
export const maxTimerDelayMs = 2 ** 31 - 1

/** clampDelay keeps a delay inside what `setTimeout` accepts: `[0, 2^31 − 1]` whole ms. */
export function clampDelay(ms: number): number {
  if (!(ms > 0)) return 0
  return Math.min(Math.ceil(ms), maxTimerDelayMs)
}

type Handle = ReturnType<typeof setTimeout>

/**
 * unrefTimer stops a timer from keeping the process alive, where the runtime can: Node and Bun
 * timers have `unref()`, Deno has `Deno.unrefTimer(id)`, browsers and Workers need nothing.
 */
export function unrefTimer(handle: Handle): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) {
    ;(handle as { unref(): void }).unref()
    return
  }
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno
  if (typeof handle === 'number') deno?.unrefTimer?.(handle)
}

/**
 * Timer is one unref'd timer that fires `callback` at an absolute time on the `now` clock.
 * Delays beyond 2^31 − 1 ms are chained: the timer wakes early, sees it is not yet time, and waits
 * again, so a 30-day wait neither overflows nor fires at once.
 */
export class Timer {
  #handle: Handle | undefined
  #at = Number.POSITIVE_INFINITY
  readonly #now: () => number
  readonly #callback: () => void

  constructor(now: () => number, callback: () => void) {
    this.#now = now
    this.#callback = callback
  }

  /** The time the timer is set for, or `Infinity` when it is not set. */
  get at(): number {
    return this.#at
  }

  /** set (re)arms the timer for time `at`; `Infinity` or `NaN` clears it. */
  set(at: number): void {
    if (at === this.#at && this.#handle !== undefined) return
    this.clear()
    if (!(at < Number.POSITIVE_INFINITY)) return
    this.#at = at
    this.#arm()
  }

  /** clear cancels the timer. */
  clear(): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle)
    this.#handle = undefined
    this.#at = Number.POSITIVE_INFINITY
  }

  #arm(): void {
    const delay = this.#at - this.#now()
    this.#handle = setTimeout(() => {
      this.#handle = undefined
      // A chained long wait, or a clock that moved less than the timer did.
      if (this.#now() < this.#at && delay > maxTimerDelayMs) return this.#arm()
      this.#at = Number.POSITIVE_INFINITY
      this.#callback()
    }, clampDelay(delay))
    unrefTimer(this.#handle)
  }
}
