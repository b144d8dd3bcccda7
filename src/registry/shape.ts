import { hasMethods } from '../internal/guards.js'
import type { TokenRegistry } from './types.js'

/**
 * isRegistryShape recognises a registry by the least any copy of the library has (`scope`, `get`,
 * `ids`), so an older copy's registry is read too.
 */
export function isRegistryShape(value: unknown): value is TokenRegistry {
  return hasMethods<TokenRegistry>(value, 'scope', 'get', 'ids')
}
