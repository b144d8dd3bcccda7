import type { TokenHealth, TokenProvider } from './types.js'

/**
 * healthOf is `provider.health()`, or, for a provider from a copy of the library that predates it
 * (providers are recognised by shape), what its `state` and `current` token tell.
 */
export function healthOf(provider: TokenProvider): TokenHealth {
  const own = (provider as Partial<TokenProvider>).health
  if (typeof own === 'function') return own.call(provider)
  const state = provider.state
  const expiresAt = provider.current?.expiresAt
  // `refreshing` and `failed` may still serve an unexpired token; the older copy does not say
  // whether it is inside its clock skew, so its expiry alone decides.
  const healthy =
    state === 'fresh' ||
    state === 'stale' ||
    ((state === 'refreshing' || state === 'failed') &&
      provider.current !== undefined &&
      (expiresAt === undefined || expiresAt > Date.now()))
  const health: TokenHealth = { state, healthy, consecutiveFailures: 0 }
  if (expiresAt !== undefined) health.expiresAt = expiresAt
  return health
}
