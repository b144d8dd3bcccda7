import { AuthError } from '../errors.js'
import { withTimeout } from '../internal/wait.js'
import type { TokenSet } from './token-set.js'

// What every provider with a store loads at once; the refresh protocol (`fleet.ts`) is loaded with
// the first refresh through the store.

/**
 * spendsRefreshToken marks a `FetchToken` that sends a refresh token even when the provider holds
 * none yet (`refreshTokenGrant`, with its configured one): its refreshes run only under the lease.
 */
export const spendsRefreshToken = Symbol.for('refreshing-client.spendsRefreshToken.v1')

/**
 * spendsShared tells whether a refresh spends a refresh token that other processes may hold: the
 * current token set carries one, or the source sends one of its own ({@link spendsRefreshToken}).
 */
export function spendsShared(fetchToken: unknown, current: TokenSet | undefined): boolean {
  return current?.refreshToken !== undefined || (fetchToken as Record<symbol, unknown>)[spendsRefreshToken] === true
}

/** What a store call needs: a timeout, a signal that ends the wait, and where problems go. */
export interface StoreCallContext {
  readonly timeoutMs: number
  readonly signal?: AbortSignal
  report(error: unknown): void
}

/**
 * call runs one store operation, bounded by the timeout (and the signal): a failure or a timeout
 * is reported and `fallback` returned, so the store can never fail or hang a refresh. An abort
 * rejects, ending the refresh it belongs to.
 */
export async function call<T, F>(context: StoreCallContext, operation: () => Promise<T>, fallback: F): Promise<T | F> {
  const { signal, timeoutMs } = context
  try {
    return await withTimeout(operation, timeoutMs, () => storeTimeout(timeoutMs), signal)
  } catch (error) {
    if (signal?.aborted === true) throw error
    context.report(error)
    return fallback
  }
}

function storeTimeout(timeoutMs: number): AuthError {
  return new AuthError(`the token store did not answer within ${timeoutMs} ms`, { code: 'ERR_STORE' })
}
