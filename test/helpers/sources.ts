import { type AuthError, type FetchTokenContext, isAuthError } from '../../src/index.js'

/** fetchContext is what a provider would pass a token source: a live signal, reason `manual`, no reports kept. */
export function fetchContext(overrides: Partial<FetchTokenContext> = {}): FetchTokenContext {
  return { signal: new AbortController().signal, reason: 'manual', report: () => {}, ...overrides }
}

/** authRejection awaits `promise` and returns the `AuthError` it rejected with; anything else fails the test. */
export async function authRejection(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  if (!isAuthError(error)) throw new Error(`expected an AuthError, got ${String(error)}`)
  return error
}
