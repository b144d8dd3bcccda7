import type { Redis } from 'ioredis'
import { AuthError, DisposedError } from '../errors.js'
import { aliasDispose } from '../internal/dispose.js'
import { duration } from '../internal/options.js'
import { withTimeout } from '../internal/wait.js'
import type { Lease, TokenStore } from '../token/store.js'
import type { TokenSet } from '../token/token-set.js'
import { type Call, compareAndDelete, compareAndSet, runScript } from './redis-scripts.js'
import { Watchers } from './redis-watchers.js'
import { checkKey, checkToken, checkTtl, isKept } from './store-checks.js'
import { aesGcmCodec, type CodecError, checkEncryptionKey, plainCodec, type TokenCodec } from './token-codec.js'

/**
 * RedisStoreOptions are the options of {@link createRedisStore}. Times are milliseconds.
 *
 * @example
 * ```ts
 * const options: RedisStoreOptions = { redis: new Redis(), prefix: 'billing:', encryptionKey: key }
 * ```
 */
export interface RedisStoreOptions {
  /** The caller's ioredis client. The store never closes it; the subscriber for `watch` is a `duplicate()`. */
  redis: Redis
  /** Prepended to every Redis key and channel of the store. @default 'refreshing-client:' */
  prefix?: string | undefined
  /**
   * An AES-GCM key of 128, 192 or 256 bits (raw bytes, or a `CryptoKey` allowing `encrypt` and
   * `decrypt`). Without it tokens (and their refresh tokens) are stored in the clear. Every process
   * sharing a prefix must use the same key. @default undefined (no encryption)
   */
  encryptionKey?: CryptoKey | Uint8Array | undefined
  /**
   * How long a token of unknown expiry, or one that carries a refresh token (whose lifetime is not
   * known), is kept in Redis. @default 3_600_000 (1 hour)
   */
  unknownExpiryTtlMs?: number | undefined
  /** A call that Redis has not answered by then rejects with `ERR_STORE`. @default 1_000 */
  timeoutMs?: number | undefined
  /** Told about failures in the background: subscribing for `watch`, or a watcher that threw. */
  onError?: ((error: AuthError) => void) | undefined
  /** The clock, in epoch ms, for the time-to-live of tokens. @default Date.now */
  now?: (() => number) | undefined
}

/**
 * RedisTokenStore is the {@link TokenStore} that {@link createRedisStore} makes: `watch` is always
 * there, and `dispose()` closes the store's own subscriber connection (never the caller's client).
 *
 * @example
 * ```ts
 * using store: RedisTokenStore = createRedisStore({ redis })
 * ```
 */
export interface RedisTokenStore extends TokenStore, Disposable {
  watch(key: string, listener: () => void): () => void
  /** Closes the subscriber connection and stops every watcher; later calls reject with `DisposedError`. Idempotent. */
  dispose(): void
}

/**
 * redisStoreDefaults are the defaults of {@link createRedisStore}. Times are milliseconds.
 *
 * @example
 * ```ts
 * createRedisStore({ redis, timeoutMs: redisStoreDefaults.timeoutMs * 2 })
 * ```
 */
export const redisStoreDefaults = Object.freeze({
  /** Keys are `<prefix>token:<key>` and `<prefix>lease:<key>`; the channel is `<prefix>token:<key>`. */
  prefix: 'refreshing-client:',
  /**
   * A token whose expiry is unknown is used until a 401, but is not kept in Redis forever: after
   * an hour, a process that finds nothing fetches its own token.
   */
  unknownExpiryTtlMs: 3_600_000,
  /** Redis answers in well under a millisecond; one second means it is in trouble. Below the provider's 2 s. */
  timeoutMs: 1_000,
})

// ioredis is between connections: a command would wait in its offline queue, so fail at once.
const offline: ReadonlySet<string> = new Set(['reconnecting', 'close', 'end'])

/**
 * createRedisStore makes a {@link TokenStore} in Redis, shared by every process of a fleet, from the
 * caller's ioredis client (ioredis 5 or 6).
 *
 * - `set` is a compare-and-set in a Lua script on the server: a stored token is never replaced by
 *   an older one (an earlier `expiresAt`, or the same and an earlier or equal `issuedAt`). With the
 *   expiry unknown on either side the new token wins, as with `isNewer`, even when it is the same
 *   token (the script cannot compare encrypted tokens). Each token key lives as long as the token
 *   (`PX`, by the `now` clock), or `unknownExpiryTtlMs` when its expiry is unknown; an expired token
 *   is not stored. A token with a refresh token is kept at least `unknownExpiryTtlMs`, and `get`
 *   returns it after its access token expired: the latest refresh token outlives its access token,
 *   so a process started later refreshes with it (under the lease), not with a spent one. Every token stored is published to the key's watchers.
 * - `acquire` is `SET NX PX` with a random owner; `release` deletes the lease only if this owner
 *   still holds it, so an expired holder never frees the next holder's lease.
 * - `watch` subscribes on a connection of its own, a `duplicate()` of the caller's client made on
 *   the first `watch`, that waits through outages and subscribes again after each reconnection.
 * - With `encryptionKey`, each token is sealed with AES-GCM (a random 96-bit IV per write; the Redis
 *   key and the clear `expiresAt`/`issuedAt` bound as associated data), so a value copied to another
 *   key, or with its times edited, does not decrypt.
 * - Without `encryptionKey`, tokens are stored in the clear. That is the default because the API
 *   makes the key optional, and because for many fleets Redis (with AUTH, ACLs and TLS) is already
 *   the trust boundary for their sessions and secrets, and the access tokens stored are short-lived
 *   copies of what every process holds in memory. Set a key whenever Redis is shared with other
 *   services, persisted, replicated or backed up, and whenever refresh tokens are stored (they are
 *   long-lived): then whoever reads Redis, its snapshots or its replicas gets no usable token.
 * - `get` rejects with an `AuthError` `ERR_STORE_UNREADABLE` for a stored value it cannot decrypt or read (a
 *   wrong key, a value of another key, a foreign value), after deleting it if it is unchanged, so
 *   that the provider refreshes and its `set` can store a good token. All processes sharing a
 *   `prefix` must therefore share the key.
 * - A call never hangs. While the client is reconnecting or closed, calls reject at once with
 *   `ERR_STORE` (nothing is queued in ioredis' offline queue); otherwise a call that Redis has not
 *   answered within `timeoutMs` rejects with `ERR_STORE`. A command that has been sent may still run
 *   later: a late `set` is harmless (compare-and-set), and a late lease is given back at once.
 * - Errors never carry a token: their causes keep only the name and message of ioredis' errors,
 *   which otherwise carry the command's arguments.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis'
 * import { createTokenProvider } from 'refreshing-client'
 * import { createRedisStore } from 'refreshing-client/redis'
 *
 * const redis = new Redis(process.env.REDIS_URL!)
 * const store = createRedisStore({ redis, encryptionKey: Buffer.from(process.env.TOKEN_KEY!, 'base64') })
 * const tokens = createTokenProvider({ fetchToken, store, storeKey: 'svc-orders' })
 * // at shutdown: store.dispose(), then redis.quit() (the store never closes your client)
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): RedisTokenStore {
  return new RedisStore(options)
}

class RedisStore implements RedisTokenStore {
  readonly #redis: Redis
  readonly #prefix: string
  readonly #codec: TokenCodec
  readonly #unknownExpiryTtlMs: number
  readonly #timeoutMs: number
  readonly #now: () => number
  readonly #onError: (error: AuthError) => void
  readonly #watchers: Watchers
  readonly #call: Call
  #disposed = false
  declare [Symbol.dispose]: () => void

  constructor(options: RedisStoreOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Redis store options must be an object')
    const { redis, prefix = redisStoreDefaults.prefix, encryptionKey, now = Date.now, onError } = options
    if (
      typeof redis !== 'object' ||
      redis === null ||
      typeof redis.call !== 'function' ||
      typeof redis.duplicate !== 'function'
    ) {
      throw new TypeError('redis must be an ioredis client')
    }
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string')
    if (typeof now !== 'function') throw new TypeError('now must be a function')
    if (onError !== undefined && typeof onError !== 'function') throw new TypeError('onError must be a function')
    if (encryptionKey !== undefined) checkEncryptionKey(encryptionKey)
    this.#redis = redis
    this.#prefix = prefix
    this.#codec = encryptionKey === undefined ? plainCodec : aesGcmCodec(encryptionKey, 'refreshing-client/redis v1')
    this.#unknownExpiryTtlMs = duration(
      'unknownExpiryTtlMs',
      options.unknownExpiryTtlMs,
      redisStoreDefaults.unknownExpiryTtlMs,
    )
    this.#timeoutMs = duration('timeoutMs', options.timeoutMs, redisStoreDefaults.timeoutMs)
    this.#now = now
    this.#onError = onError ?? (() => {})
    this.#call = (command, ...args) => redis.call(command, ...args)
    this.#watchers = new Watchers(redis, (what, error) => this.#report(what, error))
  }

  get [Symbol.toStringTag](): string {
    return 'RedisTokenStore'
  }

  async get(key: string): Promise<TokenSet | undefined> {
    const name = this.#tokenKey(key)
    const raw = await this.#command(`read the token of "${key}"`, (call) => call('GET', name))
    if (raw === null) return undefined
    let token: TokenSet
    try {
      token = await this.#codec.decode(String(raw), name)
    } catch (error) {
      // Removed only if unchanged, so that a newer token stored meanwhile is kept.
      await this.#command(`remove the unreadable token of "${key}"`, (call) =>
        runScript(call, compareAndDelete, [name], [String(raw)]),
      ).catch(() => {})
      throw new AuthError(
        `Redis token store: the stored token of "${key}" was unreadable and removed: ${(error as CodecError).message}`,
        { code: 'ERR_STORE_UNREADABLE' },
      )
    }
    // A record with a refresh token is returned after its access token expired: the refresh token is the latest.
    return isKept(token, this.#now()) ? token : undefined
  }

  async set(key: string, token: TokenSet): Promise<void> {
    const name = this.#tokenKey(key)
    checkToken(token)
    const accessTtlMs =
      token.expiresAt === undefined ? this.#unknownExpiryTtlMs : Math.ceil(token.expiresAt - this.#now())
    if (!(accessTtlMs > 0)) return
    // The latest refresh token outlives its access token: its lifetime is not known, so it is kept
    // for unknownExpiryTtlMs (or as long as a longer-lived access token), until a newer one replaces it.
    const ttlMs = token.refreshToken === undefined ? accessTtlMs : Math.max(accessTtlMs, this.#unknownExpiryTtlMs)
    const value = await this.#codec.encode(token, name)
    await this.#command(`store the token of "${key}"`, (call) =>
      runScript(
        call,
        compareAndSet,
        [name],
        [value, String(token.expiresAt ?? ''), String(token.issuedAt ?? ''), ttlMs, name],
      ),
    )
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const name = `${this.#prefix}lease:${checkKey(key, this.#disposed, 'the Redis token store')}`
    checkTtl(ttlMs)
    const owner = globalThis.crypto.randomUUID()
    let sent = false
    let taken: unknown
    try {
      taken = await this.#command(`take the lease of "${key}"`, (call) => {
        sent = true
        return call('SET', name, owner, 'PX', Math.ceil(ttlMs), 'NX')
      })
    } catch (error) {
      // A SET that was sent may still run (it timed out, or waits in the client's queue): give the
      // lease back right after it, on the same connection. Only this owner's lease can be deleted.
      if (sent) runScript(this.#call, compareAndDelete, [name], [owner]).catch(() => {})
      throw error
    }
    if (taken !== 'OK') return undefined
    let released = false
    return {
      release: async () => {
        if (released) return
        await this.#command(`release the lease of "${key}"`, (call) =>
          runScript(call, compareAndDelete, [name], [owner]),
        )
        released = true
      },
    }
  }

  watch(key: string, listener: () => void): () => void {
    const name = this.#tokenKey(key)
    if (typeof listener !== 'function') throw new TypeError('listener must be a function')
    return this.#watchers.watch(name, listener)
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#watchers.close()
  }

  #tokenKey(key: string): string {
    return `${this.#prefix}token:${checkKey(key, this.#disposed, 'the Redis token store')}`
  }

  /** #command runs one exchange with Redis, or fails at once when it cannot be had. */
  async #command<T>(what: string, run: (call: Call) => Promise<T>): Promise<T> {
    if (this.#disposed) throw new DisposedError('the Redis token store')
    const status = this.#redis.status
    if (offline.has(status)) {
      throw new AuthError(`Redis token store: could not ${what}: Redis is not connected (status "${status}")`, {
        code: 'ERR_STORE',
      })
    }
    const timeoutMs = this.#timeoutMs
    const noAnswer = () =>
      new AuthError(`Redis token store: could not ${what}: no answer from Redis within ${timeoutMs} ms`, {
        code: 'ERR_STORE',
      })
    try {
      return await withTimeout(() => run(this.#call), timeoutMs, noAnswer)
    } catch (error) {
      if (error instanceof AuthError) throw error
      throw new AuthError(`Redis token store: could not ${what}: ${messageOf(error)}`, {
        code: 'ERR_STORE',
        cause: safeCause(error),
      })
    }
  }

  #report(what: string, error: unknown): void {
    this.#onError(new AuthError(`Redis token store: ${what}`, { code: 'ERR_STORE', cause: safeCause(error) }))
  }
}

aliasDispose(RedisStore)

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

// ioredis attaches the failed command, with its arguments (a token, a lease owner), to its errors:
// keep only the name and the message, which Redis and ioredis write without arguments.
function safeCause(error: unknown): Error {
  const copy = new Error(messageOf(error))
  if (error instanceof Error) copy.name = error.name
  return copy
}
