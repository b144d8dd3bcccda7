import { isAuthError } from '../errors.js'

/**
 * errorName names a foreign error without quoting it: its message may hold a secret it was given,
 * so only its class name (or the type of what was thrown) is ever shown.
 */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error
}

/** describeError is our own error's message (ours never carry a token or secret), else {@link errorName}. */
export function describeError(error: unknown): string {
  return isAuthError(error) ? error.message : errorName(error)
}

/** codeOf is a system error's `code` (such as `ENOENT`), or `undefined` when it has none. */
export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}
