import type { KyInstance } from 'ky'
import { DisposedError } from '../errors.js'
import { aliasDispose } from '../internal/dispose.js'
import { Events } from '../internal/events.js'
import { notifyReplay, type ObservableProvider } from '../token/observe.js'
import type { TokenProviderOptions } from '../token/options.js'
import { createTokenProvider, type PeekableProvider, peekToken } from '../token/provider.js'
import type { TokenProvider } from '../token/types.js'
import { followRedirects, isRedirect, send } from './exchange.js'
import { createKy } from './ky-adapter.js'
import { OriginPolicy, redactUrl } from './origin.js'
import { type Outgoing, prepareOutgoing, toHeaders } from './outgoing.js'
import type { Authorize, RefreshingClientEvents, RefreshingClientOptions } from './types.js'

const bearer: Authorize = (headers, token) => headers.set('authorization', `Bearer ${token}`)
const bearerNames: readonly string[] = ['authorization']
const noNames: readonly string[] = []
const defaultRetryOn: readonly number[] = Object.freeze([401])

/**
 * RefreshingClient is a drop-in `fetch` (and a `ky` instance) that attaches its provider's token,
 * and when a response says the token was refused (401), refreshes once and replays the request
 * once. The token only ever goes to `baseUrl`'s origin and `allowedOrigins`.
 *
 * @example
 * ```ts
 * const client = new RefreshingClient({ tokens, baseUrl: 'https://town.example.com/' })
 * const response = await client.fetch('/agents/7/heartbeat', { method: 'POST' })
 * const agent = await client.ky.get('agents/7').json()
 * ```
 */
export class RefreshingClient implements Disposable {
  /** The provider whose token this client sends. */
  readonly tokens: TokenProvider
  /** `fetch`, authenticated; bound, so it can be handed to any fetch-based SDK. */
  readonly fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>
  readonly #policy: OriginPolicy
  readonly #headers: Readonly<Record<string, string>> | undefined
  readonly #authorize: Authorize
  readonly #retryOn: readonly number[]
  readonly #fetch: typeof fetch | undefined
  readonly #kyOptions: RefreshingClientOptions['ky']
  readonly #events = new Events<RefreshingClientEvents>()
  readonly #owned: boolean
  #ky: KyInstance | undefined
  #disposed = false
  /** Same as `dispose()`, for `using`. */
  declare [Symbol.dispose]: () => void

  constructor(options: RefreshingClientOptions) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError('RefreshingClient options must be an object')
    const { tokens, authorize, retryOnStatus, fetch: fetchImpl } = options
    this.#policy = new OriginPolicy(options.baseUrl, options.allowedOrigins)
    if (authorize !== undefined && typeof authorize !== 'function') throw new TypeError('authorize must be a function')
    if (fetchImpl !== undefined && typeof fetchImpl !== 'function') throw new TypeError('fetch must be a function')
    if (
      retryOnStatus !== undefined &&
      (!Array.isArray(retryOnStatus) || !retryOnStatus.every((s) => Number.isInteger(s) && s >= 400 && s <= 599))
    ) {
      throw new RangeError('retryOnStatus must be an array of HTTP error statuses (400 to 599)')
    }
    // Everything that can throw comes before the provider is made: a client that fails to be
    // constructed must not leave a provider of its own running.
    this.#headers = options.headers === undefined ? undefined : Object.fromEntries(new Headers(options.headers))
    const shared = isTokenProvider(tokens)
    this.#owned = !shared
    this.tokens = shared ? tokens : createTokenProvider(tokens as TokenProviderOptions)
    this.#authorize = authorize ?? bearer
    this.#retryOn = retryOnStatus === undefined ? defaultRetryOn : [...retryOnStatus]
    this.#fetch = fetchImpl
    this.#kyOptions = options.ky
    this.fetch = (input, init) => this.#send(input, init)
  }

  /** `ky` over this client's `fetch`, with `baseUrl` as ky's `baseUrl`; made on first use. */
  get ky(): KyInstance {
    if (this.#disposed) throw new DisposedError('RefreshingClient')
    this.#ky ??= createKy(this.fetch, this.#policy.base, this.#kyOptions)
    return this.#ky
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof RefreshingClientEvents>(type: K, handler: (event: RefreshingClientEvents[K]) => void): () => void {
    if (this.#disposed) throw new DisposedError('RefreshingClient')
    return this.#events.on(type, handler)
  }

  /** Stops the client; disposes its provider if the client made it. Idempotent. */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#events.clear()
    if (this.#owned) this.tokens.dispose()
  }

  async #send(input: string | URL | Request, init: RequestInit | undefined): Promise<Response> {
    if (this.#disposed) throw new DisposedError('RefreshingClient')
    const url = this.#policy.resolve(isUrlInput(input) ? input : input.url)
    const signal = init?.signal ?? (isUrlInput(input) ? undefined : input.signal) ?? undefined
    const prepared = prepareOutgoing(url, input, init, this.#headers, this.#authorize !== bearer)
    const outgoing = prepared instanceof Promise ? await prepared : prepared
    // Fast path: a valid token is at hand, no await needed for it.
    const token = (this.tokens as PeekableProvider)[peekToken]?.() ?? (await this.#getToken(signal))
    const authNames = this.#applyToken(outgoing, token, noNames)
    const fetchImpl = this.#fetch ?? globalThis.fetch
    let response: Response
    let carried = true
    try {
      response = await send(fetchImpl, outgoing)
      if (outgoing.follow && isRedirect(response.status)) {
        ;({ response, carried } = await followRedirects(fetchImpl, outgoing, authNames, response))
      }
    } catch (error) {
      outgoing.body.release()
      throw error
    }
    if (!carried || !this.#retryOn.includes(response.status)) {
      outgoing.body.release()
      return response
    }
    return this.#replay(fetchImpl, outgoing, response, token, authNames, signal)
  }

  #getToken(signal: AbortSignal | undefined): Promise<string> {
    return this.tokens.getToken(signal === undefined ? undefined : { signal })
  }

  // The one retry: refresh (shared with every other caller that saw the same token refused),
  // then replay once with the new token. Never a second retry, whatever the replay's status.
  async #replay(
    fetchImpl: typeof fetch,
    outgoing: Outgoing,
    refused: Response,
    used: string,
    usedNames: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const url = redactUrl(outgoing.url)
    this.tokens.invalidate(used)
    let fresh: string | undefined
    try {
      fresh = await this.#getToken(signal)
    } catch {
      // A failed refresh is the provider's `error` event; this caller gets the 401 it had.
      if (signal?.aborted === true) {
        outgoing.body.release()
        throw signal.reason
      }
    }
    if (fresh === undefined || fresh === used) {
      outgoing.body.release()
      this.#events.emit('unauthorized', { url, status: refused.status, retried: false })
      return refused
    }
    await refused.body?.cancel().catch(() => {})
    this.#events.emit('retry', { url })
    // Instrumentation counts replays at the provider, which every client of it shares.
    ;(this.tokens as ObservableProvider)[notifyReplay]?.(this)
    const authNames = this.#applyToken(outgoing, fresh, usedNames)
    let response: Response
    let carried = true
    try {
      response = await send(fetchImpl, outgoing)
      if (outgoing.follow && isRedirect(response.status)) {
        ;({ response, carried } = await followRedirects(fetchImpl, outgoing, authNames, response))
      }
    } finally {
      outgoing.body.release()
    }
    if (this.#retryOn.includes(response.status)) {
      // The fresh token was refused too (a refresh that raced a revocation): the next request must
      // not send it again. This request still gets no second replay.
      if (carried) this.tokens.invalidate(fresh)
      this.#events.emit('unauthorized', { url, status: response.status, retried: true })
    }
    return response
  }

  /** Sets the token on the request's headers (ours), replacing an earlier one; returns the names it set. */
  #applyToken(outgoing: Outgoing, token: string, previous: readonly string[]): readonly string[] {
    const { headers } = outgoing
    const authorize = this.#authorize
    if (authorize === bearer) {
      if (headers instanceof Headers) headers.set('authorization', `Bearer ${token}`)
      else headers['authorization'] = `Bearer ${token}`
      return bearerNames
    }
    const bag = toHeaders(headers)
    outgoing.headers = bag
    for (const name of previous) bag.delete(name)
    const own = new Headers()
    authorize(own, token)
    const names: string[] = []
    for (const [name, value] of own) {
      bag.set(name, value)
      names.push(name)
    }
    return names
  }

  /**
   * A token-free summary, for logs: the origins that may receive the token, and whether it is disposed.
   * @internal
   */
  toJSON(): { origins: string[]; disposed: boolean } {
    return { origins: this.#policy.origins, disposed: this.#disposed }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `RefreshingClient { origins: ${JSON.stringify(this.#policy.origins)}, disposed: ${this.#disposed} }`
  }
}

aliasDispose(RefreshingClient)

function isUrlInput(input: string | URL | Request): input is string | URL {
  return typeof input === 'string' || input instanceof URL
}

/** isTokenProvider recognises a provider by shape, so one from another copy of the library works. */
export function isTokenProvider(value: unknown): value is TokenProvider {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TokenProvider).getToken === 'function' &&
    typeof (value as TokenProvider).invalidate === 'function' &&
    typeof (value as TokenProvider).dispose === 'function'
  )
}
