import type { RefreshingClient } from '../client/client.js'
import type { RefreshingClientOptions } from '../client/types.js'
import type { TokenProviderOptions } from '../token/options.js'
import type { TokenInput } from '../token/token-set.js'
import type { TokenHealth, TokenProvider } from '../token/types.js'

/**
 * ScopeOptions say how a scope gets its provider: options for a provider it makes and owns, or a
 * shared one.
 *
 * @example
 * ```ts
 * registry.scope('agent-7', { fetchToken: agentToken('agent-7'), expectedClaims: { sub: 'agent-7' } })
 * registry.scope('agent-8', { tokens: containerTokens }) // shared: the scope never disposes it
 * ```
 */
export type ScopeOptions =
  | TokenProviderOptions
  | {
      /** A provider the scope shares and never disposes (a container token, say). */
      tokens: TokenProvider
    }

/**
 * RefreshAllOptions are the options of `refreshAll()`.
 *
 * @example
 * ```ts
 * // after the API rotated its signing key: a new token for every agent, four refreshes at a time
 * await registry.refreshAll({ filter: (scope) => scope.id.startsWith('agent-'), concurrency: 4 })
 * ```
 */
export interface RefreshAllOptions {
  /** Only scopes for which this returns true are refreshed. */
  filter?: ((scope: Scope) => boolean) | undefined
  /** How many refreshes run at once. @default 8 */
  concurrency?: number | undefined
}

/**
 * RefreshAllResult is the outcome of `refreshAll()`.
 *
 * @example
 * ```ts
 * const { refreshed, failed } = await registry.refreshAll()
 * if (failed > 0) console.warn(`${failed} of ${refreshed + failed} refreshes failed (see the registry's error events)`)
 * ```
 */
export interface RefreshAllResult {
  /** Providers refreshed. */
  refreshed: number
  /** Providers whose refresh failed (each an `error` event). */
  failed: number
}

/**
 * PushStatus is the outcome of a push, as reported in the registry's `push` event: the status the
 * push handler answered.
 *
 * @example
 * ```ts
 * const pushes = new Map<PushStatus, number>()
 * registry.on('push', ({ status }) => pushes.set(status, (pushes.get(status) ?? 0) + 1))
 * ```
 */
export type PushStatus = 204 | 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415

/**
 * TokenRegistryEvents are the events of a {@link TokenRegistry}. None carries a token.
 *
 * @example
 * ```ts
 * registry.on('scope', ({ id }) => console.log(`session ${id} started`))
 * registry.on('disposed', ({ id }) => console.log(`session ${id} ended`))
 * registry.on('push', ({ id, status }) => console.log(`push for ${id ?? 'an unknown scope'}: ${status}`))
 * registry.on('error', ({ id, error }) => console.warn(`refreshAll: ${id} failed`, error))
 * ```
 */
export type TokenRegistryEvents = {
  /** A scope was created. */
  scope: {
    /** The scope's id. */
    id: string
  }
  /** A scope was disposed (and left the registry). */
  disposed: {
    /** The scope's id. */
    id: string
  }
  /** A push handler applied (204) or refused a token for a scope. */
  push: {
    /** The scope the push was for, when the request named a known one. */
    id: string | undefined
    /** The status the handler answered. */
    status: PushStatus
  }
  /** A scope's refresh failed during `refreshAll()`. */
  error: {
    /** The scope's id. */
    id: string
    /** The failure, a `RefreshError` with its `cause`. */
    error: unknown
  }
}

/**
 * TokenRegistry holds one {@link Scope} per session or identity, keyed by id. It is an interface,
 * recognised by shape: a registry made by another copy of the library (in another bundle) works.
 * This is version 1 of what crosses that boundary: later versions only add members.
 *
 * @example
 * ```ts
 * const registry: TokenRegistry = createRegistry()
 * registry.scope('agent-7', { fetchToken })
 * registry.setToken('agent-7', pushedJwt) // reaches agent-7's provider, and no other
 * console.log(registry.size, [...registry.ids()]) // 1 [ 'agent-7' ]
 * registry.get('agent-7')?.dispose() // the scope leaves the registry
 * ```
 */
export interface TokenRegistry extends Disposable {
  /**
   * The scope for `id`, created if there is none. Options only count at creation: for an existing
   * scope they are ignored, except that `{ tokens }` naming another provider throws a `TypeError`
   * (that would mix two identities).
   */
  scope(id: string, options?: ScopeOptions): Scope
  /** The scope for `id`, if there is one. */
  get(id: string): Scope | undefined
  /** Whether there is a scope for `id`. */
  has(id: string): boolean
  /** How many scopes there are. */
  readonly size: number
  /** The ids of the scopes. */
  ids(): IterableIterator<string>
  /** Pushes a token to exactly one scope; `false` when there is no such scope or the token is not newer. */
  setToken(id: string, token: TokenInput): boolean
  /** Forces one refresh of each matching scope's provider (push-only ones are skipped); never throws for a scope's failure. */
  refreshAll(options?: RefreshAllOptions): Promise<RefreshAllResult>
  /**
   * A token-free snapshot of every scope's provider (see {@link RegistryHealth}): healthy when each
   * holds a token it would send now. Registries of copies older than 0.2 lack it; the health handler
   * then builds it from `ids()` and `get()`.
   */
  health(): RegistryHealth
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof TokenRegistryEvents>(type: K, handler: (event: TokenRegistryEvents[K]) => void): () => void
  /** Disposes every scope. Idempotent. */
  dispose(): void
}

/**
 * Scope is one session or identity: it owns its provider (unless a shared one was passed in), and
 * every client, heartbeat and resource made for it. `dispose()` releases all of them, last-in
 * first-out, and removes the scope from its registry.
 *
 * @example
 * ```ts
 * const scope = registry.scope('agent-7', { fetchToken })
 * const town = scope.client({ baseUrl: 'https://town.example.com/' })
 * scope.heartbeat({ client: town, url: 'agents/agent-7/heartbeat', intervalMs: 30_000 })
 * scope.add(() => socket.close())
 * // the session ends: the socket, the heartbeat, the client and the provider are released in that order
 * scope.dispose()
 * ```
 */
export interface Scope extends Disposable {
  /** The scope's id, such as an agent id. */
  readonly id: string
  /** The scope's provider. */
  readonly tokens: TokenProvider
  /** Whether the scope has been disposed. */
  readonly disposed: boolean
  /** A client of this scope's token, owned by the scope. `baseUrl` or `allowedOrigins` is required. */
  client(options: Omit<RefreshingClientOptions, 'tokens'>): RefreshingClient
  /** A heartbeat owned by the scope; without `client`, it gets a client of its own for `url`'s origin. */
  heartbeat(options: HeartbeatOptions): Heartbeat
  /**
   * Makes the scope own `resource` (a `Disposable`, anything with `dispose()`, or a cleanup function); returns it.
   * @typeParam T - The resource's type, returned as is.
   */
  add<T extends Releasable>(resource: T): T
  /** Releases everything the scope owns, last-in first-out, and leaves the registry. Idempotent. */
  dispose(): void
}

/**
 * Releasable is something a scope can own and release: a `Disposable`, anything with `dispose()`,
 * or a cleanup function.
 *
 * @example
 * ```ts
 * scope.add(() => clearInterval(poller)) // a cleanup function
 * scope.add({ dispose: () => watcher.close() }) // anything with dispose()
 * scope.add(connection) // a Disposable: its [Symbol.dispose]() is called
 * ```
 */
export type Releasable = Disposable | HasDispose | (() => void)

/**
 * HasDispose is an object released by its `dispose()` method (many libraries' resources, before
 * `Symbol.dispose`).
 *
 * @example
 * ```ts
 * scope.add({ dispose: () => socket.close() })
 * ```
 */
export interface HasDispose {
  /** Releases the resource. */
  dispose(): void
}

/**
 * HeartbeatOptions are the options of a heartbeat.
 *
 * @example
 * ```ts
 * scope.heartbeat({
 *   url: 'https://town.example.com/agents/agent-7/heartbeat', // no client: the scope makes one for this origin
 *   intervalMs: 30_000,
 *   method: 'PUT',
 *   body: () => ({ status: 'working', queued: queue.length }),
 *   timeoutMs: 5_000,
 * })
 * ```
 */
export interface HeartbeatOptions {
  /** Where to send the beats. */
  url: string | URL
  /** The time between the end of one beat and the start of the next. */
  intervalMs: number
  /** The client to send with; in a scope, the default is a client of the scope for `url`'s origin. */
  client?: RefreshingClient | undefined
  /** The HTTP method of each beat. @default 'POST' */
  method?: string | undefined
  /** The JSON body of each beat. */
  body?: (() => unknown) | undefined
  /** Each interval varies by up to this fraction, either way. @default 0.1 */
  jitterRatio?: number | undefined
  /** A beat that has not answered after this long fails. @default the larger of intervalMs and 10_000 */
  timeoutMs?: number | undefined
}

/**
 * HeartbeatEvents are the events of a {@link Heartbeat}.
 *
 * @example
 * ```ts
 * heartbeat.on('beat', ({ status, ok }) => console.debug(`heartbeat: ${status}${ok ? '' : ' (failed)'}`))
 * heartbeat.on('failure', ({ status, error, consecutive }) => {
 *   if (consecutive >= 3) console.error(`heartbeat failing ${consecutive} times in a row`, status ?? error)
 * })
 * ```
 */
export type HeartbeatEvents = {
  /** A beat got a response (any status). */
  beat: {
    /** The response status. */
    status: number
    /** Whether it was a 2xx. */
    ok: boolean
  }
  /** A beat failed: a non-2xx status (a 401 that survived the retry included), or an error. */
  failure: {
    /** The response status, when there was a response. */
    status?: number
    /** An `UnauthorizedError` for a final 401, or the error that stopped the beat. */
    error?: unknown
    /** Failed beats in a row, this one included. */
    consecutive: number
  }
}

/**
 * Heartbeat sends a request every `intervalMs`, never two at once, and counts the outcomes.
 *
 * @example
 * ```ts
 * const heartbeat: Heartbeat = startHeartbeat({ client, url: '/agents/7/heartbeat', intervalMs: 30_000 })
 * // later
 * console.log(`${heartbeat.ok} of ${heartbeat.sent} beats answered 2xx, ${heartbeat.failed} failed`)
 * heartbeat.stop()
 * ```
 */
export interface Heartbeat extends Disposable {
  /** Beats started. */
  readonly sent: number
  /** Beats answered with a 2xx status. */
  readonly ok: number
  /** Beats that failed. */
  readonly failed: number
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof HeartbeatEvents>(type: K, handler: (event: HeartbeatEvents[K]) => void): () => void
  /** Stops the heartbeat (same as `dispose()`). */
  stop(): void
  /** Stops the heartbeat, aborting a beat in flight. Idempotent. */
  dispose(): void
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

/**
 * reportPush is how a push handler (of any copy of the library) reports an outcome to a registry,
 * which turns it into a `push` event. Registries without it simply emit nothing.
 */
export const reportPush = Symbol.for('refreshing-client.reportPush.v1')

/** The key of the process-wide registry on `globalThis`; shared by every copy of the library. */
export const globalRegistryKey = Symbol.for('refreshing-client.registry.v1')

/** A registry that may take push reports. */
export type ReportingRegistry = TokenRegistry & { [reportPush]?: (id: string | undefined, status: PushStatus) => void }
