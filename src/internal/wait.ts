import { withSignal } from './signal.js'
import { clampDelay, maxTimerDelayMs, unrefTimer } from './timer.js'

/** How {@link delay} waits. */
export interface DelayOptions {
  /** Ends the wait early with the signal's reason. */
  readonly signal?: AbortSignal | undefined
  /** Keep the process alive while waiting (a caller awaits the result). Default `false`: unref'd. */
  readonly keepAlive?: boolean
}

/**
 * delay resolves after `ms` milliseconds, or rejects with the signal's reason as soon as it aborts.
 * A wait longer than `setTimeout` takes (2^31 − 1 ms) is taken in steps, never cut short.
 */
export async function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  const { signal, keepAlive = false } = options
  if (signal?.aborted === true) throw signal.reason
  // At least one timer, even for 0 (or NaN): an operation that is already settled wins a race with it.
  let left = ms
  do {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(handle)
        reject(signal?.reason)
      }
      const handle = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }, clampDelay(left))
      if (!keepAlive) unrefTimer(handle)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    left -= maxTimerDelayMs
  } while (left > 0)
}

/**
 * withTimeout runs `operation` and settles as it does, unless `ms` pass first (then it rejects with
 * `onTimeout()`) or `signal` aborts (then with its reason). The operation itself is not cancelled:
 * pass it the signal for that. The timer is unref'd, chained beyond 2^31 − 1 ms, and stopped once
 * the race is decided.
 */
export async function withTimeout<T>(
  operation: () => Promise<T>,
  ms: number,
  onTimeout: () => Error,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted === true) throw signal.reason
  const bound = new AbortController()
  const cancel = abortAfter(bound, ms, onTimeout)
  const follow = () => bound.abort(signal?.reason)
  signal?.addEventListener('abort', follow, { once: true })
  try {
    return await withSignal(Promise.resolve().then(operation), bound.signal)
  } finally {
    cancel()
    signal?.removeEventListener('abort', follow)
  }
}

/**
 * abortAfter aborts `controller` with `reason()` after `ms` (unref'd, chained beyond 2^31 − 1 ms;
 * `Infinity` never). Returns the function that cancels it.
 */
export function abortAfter(controller: AbortController, ms: number, reason: () => Error): () => void {
  if (ms === Number.POSITIVE_INFINITY) return noop
  const stop = new AbortController()
  delay(ms, { signal: stop.signal }).then(() => controller.abort(reason()), noop)
  return () => stop.abort()
}

const noop = () => {}
