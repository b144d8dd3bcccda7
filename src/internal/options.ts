import { maxTimerDelayMs } from './timer.js'

/**
 * How a duration option is checked. Every duration is a number of milliseconds; one policy holds
 * for all of them:
 * - a duration that only moves a point in time (a lead, a skew, a lease, a backoff) may be as long
 *   as any finite number: the shared timer waits beyond 2^31 − 1 ms in steps;
 * - one handed to `setTimeout` or `watchFile` as it is (a timeout, a polling interval) is at most
 *   2^31 − 1 ms, so it can never overflow into a wait of 1 ms: longer is a `RangeError`, not a clamp.
 */
export interface DurationRule {
  /** Whether 0 is allowed (a lead of 0 means "at the last moment"). Default `false`. */
  readonly zero?: boolean
  /** Whether the value goes to a runtime timer as it is: then at most 2^31 − 1. Default `false`. */
  readonly timer?: boolean
  /** Whether `Infinity` is allowed, meaning "never" (a timeout turned off). Default `false`. */
  readonly infinite?: boolean
}

/**
 * duration checks an option in milliseconds: `fallback` when absent, the value when it keeps
 * `rule`, else a `RangeError` whose message names the option, its unit and its range (one template
 * for every option of the library: `"<name> must be a positive, finite number of milliseconds"`).
 */
export function duration(name: string, value: unknown, fallback: number, rule: DurationRule = {}): number {
  if (value === undefined) return fallback
  const { zero = false, timer = false, infinite = false } = rule
  const number = typeof value === 'number' ? value : Number.NaN
  const ok =
    (infinite && number === Number.POSITIVE_INFINITY) ||
    (Number.isFinite(number) && (zero ? number >= 0 : number > 0) && (!timer || number <= maxTimerDelayMs))
  if (ok) return number
  const range = `${zero ? 'a non-negative' : 'a positive'}, finite number of milliseconds`
  throw new RangeError(`${name} must be ${range}${timer ? ', at most 2^31 - 1' : ''}${infinite ? ', or Infinity' : ''}`)
}

/** wholeNumber checks a count option: `fallback` when absent, else a whole number ≥ `min` (or `Infinity` when allowed). */
export function wholeNumber(name: string, value: unknown, fallback: number, min: number, infinite = false): number {
  if (value === undefined) return fallback
  if (typeof value === 'number' && (Number.isInteger(value) || (infinite && value === Number.POSITIVE_INFINITY))) {
    if (value >= min) return value
  }
  throw new RangeError(`${name} must be a whole number, at least ${min}${infinite ? ', or Infinity' : ''}`)
}

/** ratio checks a fraction option: `fallback` when absent, else a number in `[0, 1]`. */
export function ratio(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new RangeError(`${name} must be between 0 and 1`)
  return value
}
