import { AuthError } from '../errors.js'
import { delay } from '../internal/wait.js'
import type { Lease, TokenStore } from './store.js'
import { call, type StoreCallContext } from './store-call.js'
import { isNewer, type TokenSet } from './token-set.js'
import type { RefreshReason } from './types.js'

/** What a refresh through the fleet's store needs from its provider. */
export interface FleetRefresh extends StoreCallContext {
  readonly store: TokenStore
  readonly key: string
  readonly leaseMs: number
  readonly reason: RefreshReason
  readonly signal: AbortSignal
  /** The token the provider holds now (a stored one may have been adopted since the start). */
  current(): TokenSet | undefined
  /** Offers a stored token; returns `'fresh'` when it now serves and needs no refresh. */
  adopt(token: TokenSet): 'fresh' | 'stale' | 'refused'
  /** Whether the store is to be used: not after one of its calls failed or hung. */
  available(): boolean
  /** Gets a token from the source (`fetchToken`), with the given current token. */
  fetch(current: TokenSet | undefined): Promise<TokenSet>
  /** Whether a fetch spends a refresh token others may share: then it runs only under the lease. */
  spends(): boolean
}

/** The outcome: a token to install, and whether it came from the store. */
export interface FleetResult {
  token: TokenSet
  fromStore: boolean
}

const waitRounds = 3

/**
 * refreshThroughStore refreshes one identity for the whole fleet:
 * 1. a stored token newer than ours is adopted, and if it is fresh that is all (no fetch);
 * 2. otherwise one process takes the lease, reads the store once more (a holder may have just
 *    delivered), fetches with the latest refresh token (the stored one, which outlives its access
 *    token, unless ours is newer), writes the token to the store and releases;
 * 3. the others wait for the stored token (woken by `watch`, or polling) up to the lease's
 *    time-to-live, then try for the lease again: a holder that died is replaced by one other
 *    process, not by all of them.
 * A refresh that spends no shared refresh token (client credentials, a file) goes on locally when
 * the store fails, hangs or its holder never delivers: a store problem never fails such a request.
 * One that spends a refresh token never runs without the lease (a rotating grant spent twice is
 * revoked for every process): it fails with `ERR_STORE`, and the provider retries after its backoff.
 */
export async function refreshThroughStore(refresh: FleetRefresh): Promise<FleetResult> {
  const { store, key } = refresh
  // Once a store call fails or hangs, the rest of the refresh goes on without the store.
  for (let round = 0; round < waitRounds && refresh.available(); round++) {
    const stored = await readFresh(refresh)
    if (stored.fresh) return { token: stored.token as TokenSet, fromStore: true }
    if (!refresh.available()) break
    const lease = await call(refresh, () => store.acquire(key, refresh.leaseMs), 'unavailable' as const)
    if (lease === 'unavailable') break
    if (lease !== undefined) {
      try {
        // Read again under the lease: a holder may have stored a token and released the lease
        // between our read and our acquire, and fetching now would spend a second grant.
        const delivered = await readFresh(refresh)
        if (delivered.fresh) return { token: delivered.token as TokenSet, fromStore: true }
        if (!refresh.available() && refresh.spends()) break
        return await fetchAndShare(refresh, latest(refresh.current(), delivered.token))
      } finally {
        release(refresh, lease)
      }
    }
    const delivered = await waitForHolder(refresh)
    if (delivered !== undefined) return { token: delivered, fromStore: true }
  }
  if (refresh.spends()) {
    throw new AuthError('the token store is unavailable, and a shared refresh token is spent only under its lease', {
      code: 'ERR_STORE',
    })
  }
  return fetchAndShare(refresh, refresh.current())
}

/** What a read of the store found: its token (perhaps expired, kept for its refresh token), and whether it now serves. */
interface Read {
  token: TokenSet | undefined
  fresh: boolean
}

// The stored token, adopted when newer than ours; `fresh` when it now serves and needs no refresh.
async function readFresh(refresh: FleetRefresh): Promise<Read> {
  const token = await call(refresh, () => refresh.store.get(refresh.key), undefined)
  return { token, fresh: token !== undefined && refresh.adopt(token) === 'fresh' }
}

// The token to refresh from: ours, carrying the stored refresh token unless ours is newer. The
// stored one is the latest of the fleet (written under the lease), even with its access token expired.
function latest(current: TokenSet | undefined, stored: TokenSet | undefined): TokenSet | undefined {
  if (stored?.refreshToken === undefined) return current
  if (current?.refreshToken !== undefined && isNewer(current, stored)) return current
  return { ...(current ?? stored), refreshToken: stored.refreshToken }
}

// Released in the background, bounded like every store call, even when the refresh was aborted.
function release(refresh: FleetRefresh, lease: Lease): void {
  void call({ timeoutMs: refresh.timeoutMs, report: refresh.report }, () => lease.release(), undefined)
}

async function fetchAndShare(refresh: FleetRefresh, current: TokenSet | undefined): Promise<FleetResult> {
  const token = await refresh.fetch(current)
  if (refresh.available()) await call(refresh, () => refresh.store.set(refresh.key, token), undefined)
  return { token, fromStore: false }
}

// Waits up to the lease's time-to-live for the holder to store a token newer than ours. The store
// is read right after subscribing, so a token stored in between is not missed.
async function waitForHolder(refresh: FleetRefresh): Promise<TokenSet | undefined> {
  const { store, key, signal } = refresh
  const until = Date.now() + refresh.leaseMs
  // A notification that arrives while we read the store must not be lost: it is remembered.
  let notified = false
  let wake = () => {
    notified = true
  }
  const stop = store.watch?.(key, () => wake())
  try {
    for (let pause = 25; ; pause = Math.min(pause * 2, 250)) {
      notified = false
      const stored = await call(refresh, () => store.get(key), undefined)
      if (stored !== undefined && refresh.adopt(stored) !== 'refused') return stored
      if (Date.now() >= until) return undefined
      if (notified) continue
      // The pause ends early when the store tells of a new token, and then leaves no timer behind.
      const cut = new AbortController()
      let onAbort = () => {}
      try {
        await new Promise<void>((resolve, reject) => {
          wake = () => {
            cut.abort()
            resolve()
          }
          onAbort = () => {
            cut.abort()
            reject(signal.reason)
          }
          if (signal.aborted) return onAbort()
          signal.addEventListener('abort', onAbort, { once: true })
          delay(Math.min(pause, until - Date.now()), { signal: cut.signal }).then(resolve, () => {})
        })
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
      wake = () => {
        notified = true
      }
    }
  } finally {
    stop?.()
  }
}
