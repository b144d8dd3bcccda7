import { AuthError, isAuthError } from '../errors.js'
import { describeError } from '../internal/describe.js'
import { isFresh } from './held.js'
import type { LinkHost, Pulled, StoreLink } from './link.js'
import type { ResolvedOptions } from './options.js'
import { call, spendsShared } from './store-call.js'
import type { TokenSet } from './token-set.js'
import type { RefreshReason } from './types.js'

/**
 * linkStore wires a provider to the fleet's token store (`options.store`): refreshes go through
 * the store and its lease, pushed tokens are shared, and tokens other processes store are taken
 * as they arrive. `createTokenProvider` passes it to every provider; a provider without a store
 * never calls it.
 */
export function linkStore(options: ResolvedOptions, host: LinkHost): FleetLink {
  return new Link(options, host)
}

/** A provider's link to the fleet's store, once loaded: the store's `watch` calls `notified`. */
export interface FleetLink extends Omit<StoreLink, 'stop'> {
  /** Another process stored a token: take it now if it is newer, rather than at the next refresh. */
  notified(): void
}

class Link implements FleetLink {
  readonly #options: ResolvedOptions
  readonly #host: LinkHost
  /** A store that failed or hung is left alone until then (local clock). */
  #downUntil = 0
  /** Whether a notified read of the store is under way. */
  #reading = false

  constructor(options: ResolvedOptions, host: LinkHost) {
    this.#options = options
    this.#host = host
  }

  // Without a store, or while it is down, the provider refreshes on its own, unless that would
  // spend a shared refresh token: such a refresh always goes through the store (and its lease).
  async pull(reason: RefreshReason, signal: AbortSignal): Promise<Pulled> {
    const { storeKey, storeLeaseMs, storeTimeoutMs, now, fetchToken } = this.#options
    const host = this.#host
    signal.throwIfAborted()
    const spends = () => spendsShared(fetchToken, host.held()?.set)
    if (now() < this.#downUntil && !spends()) {
      return { token: await host.fetch(reason, signal, host.held()?.set), fromStore: false }
    }
    // The refresh protocol is loaded with the first refresh through a store, not with every provider.
    const { refreshThroughStore } = await import('./fleet.js')
    let failed = false
    return refreshThroughStore({
      store: this.#store,
      key: storeKey as string,
      leaseMs: storeLeaseMs,
      timeoutMs: storeTimeoutMs,
      reason,
      signal,
      current: () => host.held()?.set,
      adopt: (token) => this.#adopt(token, reason),
      // Within one refresh, the store is given up on after its first failure or hang.
      available: () => !failed,
      fetch: (current) => host.fetch(reason, signal, current),
      spends,
      report: (error) => {
        if (this.report(error, true)) failed = true
      },
    })
  }

  // Shares a pushed token with the fleet, in the background: a store problem never fails a push.
  share(token: TokenSet): void {
    const { storeKey, storeTimeoutMs } = this.#options
    const context = { timeoutMs: storeTimeoutMs, report: (error: unknown) => this.report(error, true) }
    void call(context, () => this.#store.set(storeKey as string, token), undefined)
  }

  // A store that failed or hung is left alone for a while (five of its timeouts): refreshes meanwhile
  // do not wait for it, and sharing resumes after.
  // Returns whether the store counts as down: an unreadable record is no outage (the refresh goes on
  // through the store, and its set replaces the record).
  report(error: unknown, unavailable: boolean): boolean {
    const outage = unavailable && !isAuthError(error, 'ERR_STORE_UNREADABLE')
    if (outage) this.#downUntil = this.#options.now() + 5 * this.#options.storeTimeoutMs
    const reported =
      error instanceof Error ? error : new AuthError(`token store: ${describeError(error)}`, { code: 'ERR_STORE' })
    this.#host.emit({ error: reported, attempt: 0, willRetry: false, store: true })
    return outage
  }

  // A token from the store: checked like a push, and taken only when newer. An unforced refresh
  // also ends when the stored token is the one we hold and it is fresh (taken through `watch` just
  // as the refresh started): fetching then would spend a second grant.
  #adopt(token: TokenSet, reason?: RefreshReason): 'fresh' | 'stale' | 'refused' {
    const host = this.#host
    let set: TokenSet
    try {
      set = host.parse(token)
    } catch (error) {
      this.report(error, false)
      return 'refused'
    }
    const now = this.#options.now()
    if (host.offer(set)) return isFresh(host.held(), now) ? 'fresh' : 'stale'
    const unforced = reason === 'scheduled' || reason === 'expired' || reason === 'initial'
    return unforced && isFresh(host.held(), now, set.accessToken) ? 'fresh' : 'refused'
  }

  get #store() {
    return this.#options.store as NonNullable<ResolvedOptions['store']>
  }

  notified(): void {
    // A refresh in flight reads the store itself.
    if (this.#reading || !this.#host.idle()) return
    this.#reading = true
    const { storeKey, storeTimeoutMs } = this.#options
    const context = { timeoutMs: storeTimeoutMs, report: (error: unknown) => this.report(error, true) }
    void call(context, () => this.#store.get(storeKey as string), undefined).then((token) => {
      this.#reading = false
      if (token !== undefined) this.#adopt(token)
    })
  }
}
