import { isAuthError, RefreshError } from '../errors.js'
import { describeError } from '../internal/describe.js'
import type { ResolvedOptions } from './options.js'
import { backoffDelay } from './schedule.js'
import type { TokenProviderErrorEvent } from './types.js'

/**
 * Failures are the refreshes that failed in a row since the last success or push. A provider
 * holds them only while failing (most never do), so being failing is having them, and failed for
 * good (`terminal`) is a retry time of `Infinity`.
 */
export class Failures {
  /** How many refreshes failed in a row. */
  count = 0
  /** The latest failure, as callers get it. */
  lastError: RefreshError | undefined
  /** Refreshes that are not forced wait for this time (backoff); `Infinity` once failed for good. */
  retryAt = 0

  /** Failed for good (a terminal error, or attempts exhausted): only `refresh()` or a push end it. */
  get terminal(): boolean {
    return this.retryAt === Number.POSITIVE_INFINITY
  }

  /**
   * add counts a failure and sets the backoff, which also waits out the throttle (`throttledUntil`).
   * Returns the `error` event, whose `error` is the `RefreshError` callers get.
   */
  add(
    error: unknown,
    options: ResolvedOptions,
    throttledUntil: number,
  ): TokenProviderErrorEvent & { error: RefreshError } {
    const count = ++this.count
    const { label, retry, now } = options
    const terminal = (isAuthError(error) && error.terminal) || count >= retry.attempts
    const refreshError = new RefreshError(`${label}: refresh failed (attempt ${count}): ${describeError(error)}`, {
      code: isAuthError(error, 'ERR_REFRESH_TIMEOUT') ? 'ERR_REFRESH_TIMEOUT' : 'ERR_REFRESH',
      cause: error,
      terminal,
    })
    this.lastError = refreshError
    if (terminal) {
      this.retryAt = Number.POSITIVE_INFINITY
      return { error: refreshError, attempt: count, willRetry: false }
    }
    const at = now()
    this.retryAt = Math.max(at + backoffDelay(count, retry, Math.random), throttledUntil)
    return { error: refreshError, attempt: count, willRetry: true, retryInMs: this.retryAt - at }
  }
}
