import { healthOf } from '../token/health.js'
import type { TokenHealth } from '../token/types.js'
import type { RegistryHealth, TokenRegistry } from './types.js'

/**
 * registryHealth is every scope's {@link healthOf}, keyed by id (in an object without a prototype,
 * so that no scope id can collide with `Object.prototype`), and whether all of them are healthy.
 */
export function registryHealth(registry: TokenRegistry): RegistryHealth {
  const scopes: Record<string, TokenHealth> = Object.create(null)
  let healthy = true
  for (const id of registry.ids()) {
    const scope = registry.get(id)
    if (scope === undefined) continue
    const health = healthOf(scope.tokens)
    scopes[id] = health
    healthy &&= health.healthy
  }
  return { healthy, scopes }
}
