import { boundTo } from '../dpop/signer.js'
import { hasMethods } from '../internal/guards.js'
import { duration, ratio, wholeNumber } from '../internal/options.js'
import { providerDefaults } from './schedule.js'
import type { TokenStore } from './store.js'
import type { TokenInput } from './token-set.js'
import type { FetchToken } from './types.js'

/**
 * TokenProviderOptions are the options of `createTokenProvider`. Every time is in milliseconds
 * unless its name says otherwise.
 *
 * @example
 * ```ts
 * const tokens = createTokenProvider({
 *   name: 'agent-7',
 *   fetchToken,
 *   refreshLeadMs: 120_000, // refresh at the latest 2 minutes before expiry
 *   retry: { maxDelayMs: 60_000 },
 *   expectedClaims: { sub: 'agent-7' }, // refuse a token issued to another agent
 * })
 * ```
 */
export interface TokenProviderOptions {
  /** Gets a fresh token. Omit it for a push-only provider that is fed through `setToken`. */
  fetchToken?: FetchToken | undefined
  /** The token to start with, such as the one the process was started with. */
  initialToken?: TokenInput | undefined
  /** Refresh once this fraction of the lifetime has passed. @default 0.8 */
  refreshAtRatio?: number | undefined
  /** The longest lead before expiry; it shrinks for short-lived tokens. @default 60_000 */
  refreshLeadMs?: number | undefined
  /** A token this close to expiry counts as expired (at most half the lead). @default 30_000 */
  clockSkewMs?: number | undefined
  /** Timer and `getToken` refreshes start at most once per this interval. @default 1_000 */
  minRefreshIntervalMs?: number | undefined
  /** Moves each refresh point earlier by up to this fraction of its wait; 0 turns it off. @default 0.1 */
  refreshJitterRatio?: number | undefined
  /** A `fetchToken` that has not settled after this long is aborted and counts as failed. @default 30_000 */
  refreshTimeoutMs?: number | undefined
  /** Backoff after failed refreshes, with jitter. @default { attempts: Infinity, baseDelayMs: 1_000, maxDelayMs: 30_000 } */
  retry?: {
    /** Failed attempts in a row before the provider gives up (state `failed`). @default Infinity */
    attempts?: number
    /** The first wait after a failure. @default 1_000 */
    baseDelayMs?: number
    /** The longest wait. @default 30_000 */
    maxDelayMs?: number
  }
  /** Claims every token must have, such as `{ sub: agentId }`; others are refused (`ERR_CLAIMS_MISMATCH`). */
  expectedClaims?: Record<string, unknown> | undefined
  /** The clock, in epoch ms. @default Date.now */
  now?: (() => number) | undefined
  /** Names the provider in errors and events; never the token. */
  name?: string | undefined
  /**
   * A token store shared by a fleet of processes: one refresh per identity for all of them
   * (see `createMemoryStore`, and `createRedisStore` from `refreshing-client/redis`).
   */
  store?: TokenStore | undefined
  /** The identity's key in the store. @default name (one of them is required with a store) */
  storeKey?: string | undefined
  /** The refresh lease's time-to-live. @default 5_000 */
  storeLeaseMs?: number | undefined
  /** The longest wait for any store call. @default 2_000 */
  storeTimeoutMs?: number | undefined
}

/** The options with every default applied. */
export interface ResolvedOptions {
  fetchToken: FetchToken | undefined
  refreshAtRatio: number
  refreshLeadMs: number
  clockSkewMs: number
  minRefreshIntervalMs: number
  refreshJitterRatio: number
  refreshTimeoutMs: number
  retry: { attempts: number; baseDelayMs: number; maxDelayMs: number }
  expectedClaims: Readonly<Record<string, unknown>> | undefined
  now: () => number
  /** The provider's `name`, if it has one. */
  name: string | undefined
  /** How messages name the provider: `token provider "<name>"` (derived from `name`, never stored). */
  readonly label: string
  store: TokenStore | undefined
  storeKey: string | undefined
  storeLeaseMs: number
  storeTimeoutMs: number
}

/** resolveOptions validates `options` and fills in the defaults; it throws a `TypeError` or `RangeError` naming the option. */
export function resolveOptions(options: TokenProviderOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('token provider options must be an object')
  const { fetchToken, expectedClaims, now, name } = options
  if (fetchToken !== undefined && typeof fetchToken !== 'function') throw new TypeError('fetchToken must be a function')
  if (now !== undefined && typeof now !== 'function') throw new TypeError('now must be a function')
  if (name !== undefined && typeof name !== 'string') throw new TypeError('name must be a string')
  if (expectedClaims !== undefined && (typeof expectedClaims !== 'object' || expectedClaims === null)) {
    throw new TypeError('expectedClaims must be an object')
  }
  const retry = options.retry ?? {}
  if (typeof retry !== 'object' || retry === null) throw new TypeError('retry must be an object')
  const baseDelayMs = duration('retry.baseDelayMs', retry.baseDelayMs, providerDefaults.retry.baseDelayMs, zero)
  const maxDelayMs = duration(
    'retry.maxDelayMs',
    retry.maxDelayMs,
    Math.max(providerDefaults.retry.maxDelayMs, baseDelayMs),
    zero,
  )
  if (maxDelayMs < baseDelayMs) throw new RangeError('retry.maxDelayMs must be at least retry.baseDelayMs')
  const attempts = wholeNumber('retry.attempts', retry.attempts, providerDefaults.retry.attempts, 1, true)
  const refreshAtRatio = ratio('refreshAtRatio', options.refreshAtRatio, providerDefaults.refreshAtRatio)
  if (refreshAtRatio === 0) throw new RangeError('refreshAtRatio must be greater than 0')
  const refreshJitterRatio = ratio(
    'refreshJitterRatio',
    options.refreshJitterRatio,
    providerDefaults.refreshJitterRatio,
  )
  if (refreshJitterRatio === 1) throw new RangeError('refreshJitterRatio must be less than 1')
  const { store } = options
  if (store !== undefined && !isStore(store)) throw new TypeError('store must be a TokenStore (get, set and acquire)')
  const storeKey = dpopStoreKey(options.storeKey ?? (store === undefined ? undefined : name), options.fetchToken)
  if (store !== undefined && (typeof storeKey !== 'string' || storeKey.length === 0)) {
    // A shared default key would hand one identity another's token.
    throw new TypeError('a provider with a store needs storeKey (or name) to name its identity in the store')
  }
  const storeLeaseMs = duration('storeLeaseMs', options.storeLeaseMs, providerDefaults.storeLeaseMs)
  const storeTimeoutMs = duration('storeTimeoutMs', options.storeTimeoutMs, providerDefaults.storeTimeoutMs)
  const refreshTimeoutMs = duration('refreshTimeoutMs', options.refreshTimeoutMs, providerDefaults.refreshTimeoutMs, {
    infinite: true,
  })
  return compact({
    fetchToken,
    refreshAtRatio,
    refreshLeadMs: duration('refreshLeadMs', options.refreshLeadMs, providerDefaults.refreshLeadMs, zero),
    clockSkewMs: duration('clockSkewMs', options.clockSkewMs, providerDefaults.clockSkewMs, zero),
    minRefreshIntervalMs: duration(
      'minRefreshIntervalMs',
      options.minRefreshIntervalMs,
      providerDefaults.minRefreshIntervalMs,
      zero,
    ),
    refreshJitterRatio,
    refreshTimeoutMs,
    retry: { attempts, baseDelayMs, maxDelayMs },
    expectedClaims: expectedClaims === undefined ? undefined : Object.freeze({ ...expectedClaims }),
    now: now ?? Date.now,
    name,
    store,
    storeKey,
    storeLeaseMs,
    storeTimeoutMs,
  })
}

const zero = { zero: true } as const

// Not frozen: a frozen prototype's properties could not be shadowed by a provider's own.
const resolvedDefaults: ResolvedOptions = {
  fetchToken: undefined,
  refreshAtRatio: providerDefaults.refreshAtRatio,
  refreshLeadMs: providerDefaults.refreshLeadMs,
  clockSkewMs: providerDefaults.clockSkewMs,
  minRefreshIntervalMs: providerDefaults.minRefreshIntervalMs,
  refreshJitterRatio: providerDefaults.refreshJitterRatio,
  refreshTimeoutMs: providerDefaults.refreshTimeoutMs,
  retry: providerDefaults.retry,
  expectedClaims: undefined,
  now: Date.now,
  name: undefined,
  get label() {
    return this.name === undefined ? 'token provider' : `token provider "${this.name}"`
  },
  store: undefined,
  storeKey: undefined,
  storeLeaseMs: providerDefaults.storeLeaseMs,
  storeTimeoutMs: providerDefaults.storeTimeoutMs,
}

// An idle fleet holds one provider per session: each keeps only the options that differ from the
// defaults, and reads the others through its prototype.
// The label is a getter of the defaults, read through the prototype: derived from `name`, never stored.
function compact(resolved: Omit<ResolvedOptions, 'label'>): ResolvedOptions {
  const own: Partial<Record<keyof ResolvedOptions, unknown>> = Object.create(resolvedDefaults)
  for (const key of Object.keys(resolved) as Exclude<keyof ResolvedOptions, 'label'>[]) {
    const value = resolved[key]
    const same =
      key === 'retry'
        ? (['attempts', 'baseDelayMs', 'maxDelayMs'] as const).every(
            (k) => resolved.retry[k] === providerDefaults.retry[k],
          )
        : value === resolvedDefaults[key]
    if (!same) own[key] = value
  }
  return own as ResolvedOptions
}

function isStore(value: unknown): value is TokenStore {
  return hasMethods<TokenStore>(value, 'get', 'set', 'acquire')
}

// A token bound to a DPoP key is useless without that key: a bound source's tokens live under a
// store key naming the key's thumbprint, shared by the processes that hold the same key pair only.
function dpopStoreKey(key: string | undefined, fetchToken: unknown): string | undefined {
  const thumbprint = (fetchToken as { [boundTo]?: unknown } | undefined)?.[boundTo]
  return typeof key === 'string' && key !== '' && typeof thumbprint === 'string' ? `${key}#dpop:${thumbprint}` : key
}
