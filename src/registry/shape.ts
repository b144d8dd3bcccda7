import type { TokenRegistry } from './types.js'

/**
 * isRegistryShape recognises a registry by the least any copy of the library has (`scope`, `get`,
 * `ids`), so an older copy's registry is read too.
 */
export function isRegistryShape(value: unknown): value is TokenRegistry {
  const candidate = value as Partial<TokenRegistry> | null
  return (
    typeof value === 'object' &&
    candidate !== null &&
    typeof candidate.scope === 'function' &&
    typeof candidate.get === 'function' &&
    typeof candidate.ids === 'function'
  )
}
