import { KeyedListeners } from '../internal/listeners.js'
import type { Lease, TokenStore } from '../token/store.js'
import { isNewer, type TokenSet } from '../token/token-set.js'
import { isKept } from './store-checks.js'

/**
 * MemoryStoreOptions are the options of {@link createMemoryStore}.
 *
 * @example
 * ```ts
 * let now = Date.parse('2026-01-01T00:00:00Z')
 * const store = createMemoryStore({ now: () => now }) // a test moves the clock by hand
 * await store.set('svc-orders', { accessToken: 'opaque-token', expiresAt: now + 60_000 })
 * now += 60_000
 * await store.get('svc-orders') // undefined: the token has expired
 * ```
 */
export interface MemoryStoreOptions {
  /** The clock, in epoch ms. @default Date.now */
  now?: (() => number) | undefined
}

/**
 * createMemoryStore makes a {@link TokenStore} that lives in this process: for tests, and for
 * several providers of one identity in one process. Expired tokens and leases are dropped when
 * they are next looked at.
 *
 * @example
 * ```ts
 * const store = createMemoryStore()
 * const a = createTokenProvider({ fetchToken, store, storeKey: 'svc-orders' })
 * const b = createTokenProvider({ fetchToken, store, storeKey: 'svc-orders' }) // shares a's token
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): TokenStore {
  const now = options.now ?? Date.now
  const tokens = new Map<string, TokenSet>()
  const leases = new Map<string, { owner: object; until: number }>()
  const listeners = new KeyedListeners()
  const live = (key: string): TokenSet | undefined => {
    const token = tokens.get(key)
    if (token !== undefined && !isKept(token, now())) {
      tokens.delete(key)
      return undefined
    }
    return token
  }
  return {
    async get(key) {
      return live(key)
    },
    async set(key, token) {
      if (token.expiresAt !== undefined && token.expiresAt <= now()) return
      const stored = live(key)
      if (stored !== undefined && !isNewer(token, stored)) return
      tokens.set(key, { ...token })
      listeners.notify(key)
    },
    async acquire(key, ttlMs) {
      const held = leases.get(key)
      if (held !== undefined && held.until > now()) return undefined
      const owner = {}
      leases.set(key, { owner, until: now() + ttlMs })
      const lease: Lease = {
        async release() {
          if (leases.get(key)?.owner === owner) leases.delete(key)
        },
      }
      return lease
    },
    watch(key, listener) {
      return listeners.add(key, listener)
    },
  }
}
