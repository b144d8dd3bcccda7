/**
 * How a duration option is checked. Every duration is a number of milliseconds, and one overflow
 * policy holds for all of them: any finite length is taken as it is, and the waits behind it are
 * chained (`Timer`, `delay`, `withTimeout`) so that nothing overflows `setTimeout`'s 2^31 − 1 ms
 * into a wait of 1 ms. Only a polling interval cannot be chained: one beyond 2^31 − 1 ms polls
 * every 2^31 − 1 ms (`clampDelay`).
 */
export interface DurationRule {
  /** Whether 0 is allowed (a lead of 0 means "at the last moment"). Default `false`. */
  readonly zero?: boolean
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
  const { zero = false, infinite = false } = rule
  const number = typeof value === 'number' ? value : Number.NaN
  const ok =
    (infinite && number === Number.POSITIVE_INFINITY) || (Number.isFinite(number) && (zero ? number >= 0 : number > 0))
  if (ok) return number
  const range = `${zero ? 'a non-negative' : 'a positive'}, finite number of milliseconds`
  throw new RangeError(`${name} must be ${range}${infinite ? ', or Infinity' : ''}`)
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
