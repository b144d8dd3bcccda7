import type { TokenProviderState } from '../token/types.js'

/**
 * TokenHealth is a token-free snapshot of one provider, for health checks and readiness probes:
 * plain numbers and strings only, so `JSON.stringify` gives it as it is. Times are epoch
 * milliseconds; a field whose value is unknown is absent.
 *
 * @example
 * ```ts
 * const health: TokenHealth = tokens.health()
 * // { state: 'stale', healthy: true, consecutiveFailures: 2, lastErrorCode: 'ERR_REFRESH',
 * //   expiresAt: 1767225600000, refreshAt: 1767225540000, lastRefreshAt: 1767222000000 }
 * if (!health.healthy) alert(`no usable token since ${new Date(health.expiresAt ?? 0).toISOString()}`)
 * ```
 */
export interface TokenHealth {
  /** Where the provider stands (see `TokenProviderState`). */
  state: TokenProviderState
  /**
   * Whether the provider holds a token it would send now: one that is neither past its expiry (less
   * the clock skew) nor refused by a server. Still `true` while a refresh is in flight.
   */
  healthy: boolean
  /**
   * When the held token expires (epoch ms), if that is known: on the issuer's clock, like the token's
   * own `exp` (`expiresAt − clockOffsetMs` is the local time).
   */
  expiresAt?: number
  /**
   * When the next unforced refresh is due (epoch ms, local clock): the refresh point, or later while failed
   * refreshes back off. Absent without a token of known expiry, or once refreshing has given up.
   */
  refreshAt?: number
  /** When a refresh last succeeded (epoch ms, local clock), if one has. */
  lastRefreshAt?: number
  /** The `code` of the latest failure since the last success (such as `ERR_OAUTH2` or `ERR_REFRESH`). */
  lastErrorCode?: string
  /** How many refreshes in a row have failed since the last success (or pushed token); 0 when none. */
  consecutiveFailures: number
  /** The estimated issuer clock minus the local clock (ms), once the provider has evidence of it. */
  clockOffsetMs?: number
}

/**
 * RegistryHealth is a token-free snapshot of every scope of a registry, keyed by scope id: healthy
 * when every scope's provider is (and so when there is no scope), unhealthy once disposed.
 *
 * @example
 * ```ts
 * const { healthy, scopes } = registry.health()
 * const failing = Object.entries(scopes).filter(([, health]) => !health.healthy).map(([id]) => id)
 * if (!healthy) console.warn(`agents without a usable token: ${failing.join(', ')}`)
 * ```
 */
export interface RegistryHealth {
  /** Whether every scope's provider holds a token it would send now. */
  healthy: boolean
  /** Each scope's {@link TokenHealth}, by scope id. */
  scopes: Record<string, TokenHealth>
}
