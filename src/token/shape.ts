import { hasMethods } from '../internal/guards.js'
import type { TokenProvider } from './types.js'

/** isTokenProvider recognises a provider by shape, so one from another copy of the library works. */
export function isTokenProvider(value: unknown): value is TokenProvider {
  return hasMethods<TokenProvider>(value, 'getToken', 'invalidate', 'dispose')
}
