import { createRegistry } from './registry.js'
import { globalRegistryKey, type TokenRegistry } from './types.js'

type GlobalSlot = { [globalRegistryKey]?: TokenRegistry }

/**
 * getGlobalRegistry returns the one registry of this process (or worker), made on first use and
 * kept on `globalThis` under `Symbol.for('refreshing-client.registry.v1')`, so that separately
 * bundled copies of the library share it. Prefer a registry of your own (`createRegistry()`) when
 * the code that creates scopes and the code that uses them can share a variable. After the global
 * registry is disposed, the next call makes a new one.
 *
 * @example
 * ```ts
 * // plugin A
 * getGlobalRegistry().scope(sessionId, { fetchToken })
 * // plugin B, bundled separately
 * getGlobalRegistry().get(sessionId)?.client({ baseUrl })
 * ```
 */
export function getGlobalRegistry(): TokenRegistry {
  const slot = globalThis as GlobalSlot
  const existing = slot[globalRegistryKey]
  if (existing !== undefined) {
    if (isRegistry(existing)) return existing
    throw new TypeError(
      'globalThis[Symbol.for("refreshing-client.registry.v1")] holds something that is not a registry',
    )
  }
  const registry = createRegistry()
  Object.defineProperty(slot, globalRegistryKey, { value: registry, configurable: true, writable: true })
  return registry
}

// Version 1 of the shape that crosses copies of the library: the methods of TokenRegistry. A v1
// registry removes itself from the slot when it is disposed.
function isRegistry(value: unknown): value is TokenRegistry {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  return ['scope', 'get', 'has', 'ids', 'setToken', 'refreshAll', 'on', 'dispose'].every(
    (method) => typeof candidate[method] === 'function',
  )
}
