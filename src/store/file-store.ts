import { resolve } from 'node:path'
import { AuthError, isAuthError } from '../errors.js'
import { codeOf, errorName } from '../internal/describe.js'
import { aliasDispose } from '../internal/dispose.js'
import { duration } from '../internal/options.js'
import type { Lease, TokenStore } from '../token/store.js'
import { isNewer, type TokenSet } from '../token/token-set.js'
import {
  checkPath,
  emptyDocument,
  prepareDirectory,
  pruneDocument,
  readDocument,
  type StoreDocument,
  writeDocument,
} from './file-document.js'
import { withFileLock } from './file-lock.js'
import { FileWatchers } from './file-watchers.js'
import { checkKey, checkToken, checkTtl, isKept } from './store-checks.js'
import { aesGcmCodec, checkEncryptionKey, plainCodec, type TokenCodec } from './token-codec.js'

/**
 * FileStoreOptions are the options of {@link createFileStore}. Times are milliseconds.
 *
 * @example
 * ```ts
 * const options: FileStoreOptions = { path: join(homedir(), '.config', 'my-cli', 'tokens.json') }
 * ```
 */
export interface FileStoreOptions {
  /** The one JSON file that holds every key's token and lease; created 0600, its directory 0700. */
  path: string
  /**
   * An AES-GCM key of 128, 192 or 256 bits (raw bytes, or a `CryptoKey` allowing `encrypt` and
   * `decrypt`); the store key is bound as associated data. Every process sharing the file must use
   * the same key. @default undefined (tokens stored in the clear, in a file only its owner can read)
   */
  encryptionKey?: CryptoKey | Uint8Array | undefined
  /** The short write lock of a compare-and-set, left by a process that died, is broken after this long. @default 10_000 */
  lockStaleMs?: number | undefined
  /** Watchers re-read the file at least this often (file watching is unreliable on some file systems). @default 250 */
  pollMs?: number | undefined
}

/**
 * FileTokenStore is the {@link TokenStore} that {@link createFileStore} makes: `watch` is always
 * there, and `dispose()` stops its watchers.
 *
 * @example
 * ```ts
 * using store: FileTokenStore = createFileStore({ path: '/run/user/1000/my-agent/tokens.json' })
 * ```
 */
export interface FileTokenStore extends TokenStore, Disposable {
  watch(key: string, listener: () => void): () => void
  /** Stops every watcher; later calls reject with `DisposedError`. Idempotent. The file stays. */
  dispose(): void
}

/**
 * fileStoreDefaults are the defaults of {@link createFileStore}. Times are milliseconds.
 *
 * @example
 * ```ts
 * createFileStore({ path, pollMs: fileStoreDefaults.pollMs * 2 })
 * ```
 */
export const fileStoreDefaults = Object.freeze({
  /** A write holds the lock for milliseconds; ten seconds means its holder died or hung. */
  lockStaleMs: 10_000,
  /** A waiter polls four times a second where `fs.watch` does not wake it. */
  pollMs: 250,
  /** A live holder is waited for this long (below the provider's 2 s store timeout). */
  lockWaitMs: 1_500,
})

const format = 'refreshing-client/file v1'

/**
 * createFileStore makes a {@link TokenStore} in one local file, shared by the processes of one
 * machine (CLI sessions, a desktop agent and its workers, a parent and its children), as
 * `createRedisStore` serves a fleet.
 *
 * - `set` is a compare-and-set under an exclusive write lock: a stored token is never replaced by an
 *   older one (the rule of `isNewer`). An entry that cannot be read (another `encryptionKey`,
 *   edited) is replaced, and so is a file that is not a store file: the next successful write is
 *   the repair, never a silent one (`get` reported it first).
 * - Writes are atomic: a temporary file in the same directory, `fsync`, `rename`. A reader never
 *   sees a torn file, and a process killed at any point never leaves it unreadable.
 * - `acquire` records a per-key lease (a random owner and its end) in the file, under the lock:
 *   one process holds it for `ttlMs`, and once a dead holder's lease runs out exactly one waiter
 *   takes it over. The write lock is a file made with `open(…, 'wx')` that names its owner; one left
 *   by a process that no longer runs on this host is broken at once, any other after `lockStaleMs`.
 * - A record that carries a refresh token is kept until a newer token replaces it, and `get`
 *   returns it even after its access token expired: the latest refresh token outlives its access
 *   token. A record without one is dropped once its access token expired.
 * - `watch` wakes through `fs.watch` where it works and polls every `pollMs` everywhere.
 * - `get` rejects with an `AuthError` `ERR_STORE_UNREADABLE` for a file or entry it cannot read
 *   (the provider reports it as an `error` event with `store: true` and refreshes under the lease),
 *   and with `ERR_STORE` for a path that is a directory. Every write rejects with `ERR_STORE` when
 *   the file system fails it, and refuses a path that has become a symbolic link.
 * - Without `encryptionKey`, tokens are stored in the clear in a file only its owner can read
 *   (0600); set a key when the file may be backed up, synced or read by other users' tools.
 *
 * @throws TypeError when `path` is not a string, or names a directory or a symbolic link
 * @throws RangeError when `lockStaleMs` or `pollMs` is not a positive number, or the key's length is wrong
 * @example
 * ```ts
 * import { createTokenProvider, refreshTokenGrant } from 'refreshing-client'
 * import { createFileStore } from 'refreshing-client/node'
 *
 * const store = createFileStore({ path: join(homedir(), '.config', 'my-cli', 'tokens.json') })
 * const tokens = createTokenProvider({
 *   name: 'my-cli',
 *   store,
 *   fetchToken: refreshTokenGrant({ tokenUrl, clientId, refreshToken: process.env.REFRESH_TOKEN! }),
 * })
 * ```
 */
export function createFileStore(options: FileStoreOptions): FileTokenStore {
  return new FileStore(options)
}

class FileStore implements FileTokenStore {
  readonly #path: string
  readonly #codec: TokenCodec
  readonly #lock: { path: string; staleMs: number; waitMs: number }
  readonly #watchers: FileWatchers
  #prepared: Promise<void> | undefined
  #disposed = false
  declare [Symbol.dispose]: () => void

  constructor(options: FileStoreOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('file store options must be an object')
    const { path, encryptionKey } = options
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string')
    this.#path = resolve(path)
    checkPath(this.#path)
    if (encryptionKey !== undefined) checkEncryptionKey(encryptionKey)
    this.#codec = encryptionKey === undefined ? plainCodec : aesGcmCodec(encryptionKey, format)
    const staleMs = duration('lockStaleMs', options.lockStaleMs, fileStoreDefaults.lockStaleMs)
    this.#lock = { path: `${this.#path}.lock`, staleMs, waitMs: fileStoreDefaults.lockWaitMs }
    this.#watchers = new FileWatchers(this.#path, duration('pollMs', options.pollMs, fileStoreDefaults.pollMs))
  }

  get [Symbol.toStringTag](): string {
    return 'FileTokenStore'
  }

  async get(key: string): Promise<TokenSet | undefined> {
    this.#check(key)
    const entry = (await readDocument(this.#path))?.tokens[key]
    if (entry === undefined) return undefined
    const token = await this.#decode(key, entry)
    return isKept(token, Date.now()) ? token : undefined
  }

  async set(key: string, token: TokenSet): Promise<void> {
    this.#check(key)
    checkToken(token)
    if (token.expiresAt !== undefined && token.expiresAt <= Date.now()) return
    const entry: unknown = JSON.parse(await this.#codec.encode(token, key))
    await this.#update(async (document) => {
      const stored = document.tokens[key]
      if (stored !== undefined) {
        const current = await this.#decode(key, stored).catch(() => undefined)
        if (current !== undefined && isKept(current, Date.now()) && !isNewer(token, current)) return false
      }
      document.tokens[key] = entry
      return true
    })
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    this.#check(key)
    checkTtl(ttlMs)
    const owner = globalThis.crypto.randomUUID()
    const taken = await this.#update(async (document) => {
      const held = document.leases[key]
      if (held !== undefined && held.until > Date.now()) return false
      document.leases[key] = { owner, until: Date.now() + Math.ceil(ttlMs) }
      return true
    })
    if (!taken) return undefined
    let released = false
    return {
      release: async () => {
        if (released || this.#disposed) return
        await this.#update(async (document) => {
          if (document.leases[key]?.owner !== owner) return false
          delete document.leases[key]
          return true
        })
        released = true
      },
    }
  }

  watch(key: string, listener: () => void): () => void {
    this.#check(key)
    if (typeof listener !== 'function') throw new TypeError('listener must be a function')
    return this.#watchers.watch(key, listener)
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#watchers.close()
  }

  #check(key: string): void {
    checkKey(key, this.#disposed, 'the file token store')
  }

  async #decode(key: string, entry: unknown): Promise<TokenSet> {
    try {
      return await this.#codec.decode(JSON.stringify(entry), key)
    } catch (error) {
      throw new AuthError(`file token store: the token of "${key}" is unreadable: ${(error as Error).message}`, {
        code: 'ERR_STORE_UNREADABLE',
      })
    }
  }

  /**
   * #update is a read-modify-write under the write lock: `change` edits the document and says
   * whether to write it. Expired leases and expired records without a refresh token are dropped on
   * the way. A file that is not a store file is replaced.
   */
  async #update(change: (document: StoreDocument) => Promise<boolean>): Promise<boolean> {
    this.#prepared ??= prepareDirectory(this.#path)
    await this.#prepared.catch((error: unknown) => {
      this.#prepared = undefined
      throw new AuthError(`file token store: could not create the directory of ${this.#path} (${codeOf(error)})`, {
        code: 'ERR_STORE',
      })
    })
    return withFileLock(this.#lock, async () => {
      const document = (await readDocument(this.#path).catch(unreadableAsEmpty)) ?? emptyDocument()
      if (!(await change(document))) return false
      pruneDocument(document, Date.now())
      await writeDocument(this.#path, document)
      return true
    }).catch((error: unknown) => {
      // One place turns what the file system threw (the lock, the write, the rename) into our error.
      if (isAuthError(error)) throw error
      throw new AuthError(`file token store: could not write ${this.#path} (${codeOf(error) ?? errorName(error)})`, {
        code: 'ERR_STORE',
      })
    })
  }
}

aliasDispose(FileStore)

function unreadableAsEmpty(error: unknown): undefined {
  if ((error as AuthError).code === 'ERR_STORE_UNREADABLE') return undefined
  throw error
}
