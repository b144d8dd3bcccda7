import type { TokenProvider } from './types.js'

/** isTokenProvider recognises a provider by shape, so one from another copy of the library works. */
export function isTokenProvider(value: unknown): value is TokenProvider {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TokenProvider).getToken === 'function' &&
    typeof (value as TokenProvider).invalidate === 'function' &&
    typeof (value as TokenProvider).dispose === 'function'
  )
}
