import type { TokenSet } from './token-set.js'

/**
 * Lease is the right to refresh one identity's token for the fleet, held by one process until it
 * is released or its time-to-live runs out (a holder that died).
 *
 * @example
 * ```ts
 * const lease = await store.acquire('svc-orders', 5_000)
 * if (lease) {
 *   try {
 *     await store.set('svc-orders', parseToken(await fetchNewToken()))
 *   } finally {
 *     await lease.release()
 *   }
 * }
 * ```
 */
export interface Lease {
  /** Gives the lease up, if this process still holds it (never another holder's lease). */
  release(): Promise<void>
}

/**
 * TokenStore shares tokens between the processes of a fleet, so that one identity is refreshed
 * once for all of them. Keys name identities; a store never mixes two keys.
 *
 * Implementations: `createMemoryStore()` (one process, tests) and `createRedisStore()` from
 * `refreshing-client/redis`. An implementation must make `set` a compare-and-set: it never
 * replaces a newer stored token (later `expiresAt`, or the same and a later `issuedAt`) with an
 * older one, and keeps a token only until it expires.
 *
 * @example
 * ```ts
 * const store: TokenStore = createMemoryStore()
 * await store.set('svc-orders', { accessToken, expiresAt: Date.now() + 3_600_000 })
 * const shared = await store.get('svc-orders') // in any process that shares the store
 * ```
 */
export interface TokenStore {
  /** The stored token for `key`, if there is an unexpired one. */
  get(key: string): Promise<TokenSet | undefined>
  /** Stores `token` for `key` unless a newer one is stored; kept until the token expires. */
  set(key: string, token: TokenSet): Promise<void>
  /** Takes the refresh lease for `key` for `ttlMs`; `undefined` when another process holds it. */
  acquire(key: string, ttlMs: number): Promise<Lease | undefined>
  /**
   * Optional: calls `listener` when a new token is stored for `key` (by any process), so that
   * processes waiting for the lease holder wake at once instead of at their next poll.
   * Returns the function that stops listening.
   */
  watch?(key: string, listener: () => void): () => void
}
