import type { KyInstance } from 'ky'
import { type DPoPSigner, signerOf } from '../dpop/signer.js'
import { DisposedError } from '../errors.js'
import { discard } from '../internal/discard.js'
import { aliasDispose } from '../internal/dispose.js'
import { Events } from '../internal/events.js'
import { redactUrl } from '../internal/url.js'
import { createTokenProvider } from '../token/create.js'
import { notifyReplay, type ObservableProvider } from '../token/observe.js'
import type { TokenProviderOptions } from '../token/options.js'
import { isTokenProvider } from '../token/shape.js'
import { type PeekableProvider, peekToken, type TokenProvider } from '../token/types.js'
import type { Challenge } from './challenge.js'
import { type BeforeHop, type Exchanged, followRedirects, isRedirect, send } from './exchange.js'
import { createKy } from './ky-adapter.js'
import { OriginPolicy } from './origin.js'
import { type HeaderBag, type Outgoing, prepareOutgoing, toHeaders } from './outgoing.js'
import { judge, toChallengeEvent } from './refusal.js'
import type { Authorize, RefreshingClientEvents, RefreshingClientOptions } from './types.js'

const bearer: Authorize = (headers, token) => headers.set('authorization', `Bearer ${token}`)
const bearerNames: readonly string[] = ['authorization']
const noNames: readonly string[] = []
const dpopNames: readonly string[] = ['authorization', 'dpop']
const defaultRetryOn: readonly number[] = Object.freeze([401])

/**
 * RefreshingClient is a drop-in `fetch` (and a `ky` instance) that attaches its provider's token,
 * and when a response says the token was refused (a 401, or `invalid_token` in `WWW-Authenticate`),
 * refreshes once and replays the request once. A challenge a new token cannot meet
 * (`insufficient_scope`, step-up) is returned to the caller with a `challenge` event. With `dpop`,
 * every send carries a fresh DPoP proof, and a `use_dpop_nonce` answer is replayed once with the
 * server's nonce. The token only ever goes to `baseUrl`'s origin and `allowedOrigins`.
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
  readonly #dpop: DPoPSigner | undefined
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
    this.#dpop = options.dpop === undefined ? undefined : signerOf(options.dpop, 'dpop')
    if (this.#dpop !== undefined && authorize !== undefined) {
      throw new TypeError('authorize and dpop cannot be combined: dpop sends the token as Authorization: DPoP')
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
    const fetchImpl = this.#fetch ?? globalThis.fetch
    if (this.#dpop !== undefined) return this.#dpopSend(fetchImpl, outgoing, token, signal)
    const authNames = this.#applyToken(outgoing, token, noNames)
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
    if (!carried || !this.#mayBeRefused(response.status)) {
      outgoing.body.release()
      return response
    }
    return this.#settle(fetchImpl, outgoing, { response, carried, names: authNames }, token, signal)
  }

  // A response that may ask for something: a refresh (`retryOnStatus`), or a challenge (401, 403).
  #mayBeRefused(status: number): boolean {
    return status === 401 || status === 403 || this.#retryOn.includes(status)
  }

  #getToken(signal: AbortSignal | undefined): Promise<string> {
    return this.tokens.getToken(signal === undefined ? undefined : { signal })
  }

  // DPoP signs a proof per send (WebCrypto is asynchronous), so it has no await-free path.
  async #dpopSend(
    fetchImpl: typeof fetch,
    outgoing: Outgoing,
    token: string,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    let first: Attempt
    try {
      first = await this.#attempt(fetchImpl, outgoing, token, noNames)
    } catch (error) {
      outgoing.body.release()
      throw error
    }
    if (!first.carried || !this.#mayBeRefused(first.response.status)) {
      outgoing.body.release()
      return first.response
    }
    return this.#settle(fetchImpl, outgoing, first, token, signal)
  }

  // After a refusal: read the challenges, then at most one nonce retry (DPoP) and at most one
  // refresh replay, in whatever order the server asks for them; never a loop. A nonce request that
  // comes back after the nonce retry, or a challenge a new token cannot meet, is the caller's.
  async #settle(
    fetchImpl: typeof fetch,
    outgoing: Outgoing,
    first: Attempt,
    used: string,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const url = redactUrl(outgoing.url)
    const report = (challenge: Challenge) =>
      this.#events.emit('challenge', toChallengeEvent(url, response.status, challenge))
    let { response, carried, names } = first
    let token = used
    let nonceRetried = false
    let replayed = false
    let verdict: ReturnType<typeof judge> | undefined
    try {
      while (carried) {
        verdict = judge(response, this.#retryOn, this.#dpop === undefined ? 'bearer' : 'dpop', report)
        if (verdict === 'nonce' && this.#dpop !== undefined && !nonceRetried) {
          nonceRetried = true
          await discard(response)
          ;({ response, carried, names } = await this.#attempt(fetchImpl, outgoing, token, names))
          continue
        }
        if (verdict !== 'refresh' || replayed) break
        replayed = true
        this.tokens.invalidate(token)
        let fresh: string | undefined
        try {
          fresh = await this.#getToken(signal)
        } catch {
          // A failed refresh is the provider's `error` event; this caller gets the 401 it had.
          if (signal?.aborted === true) throw signal.reason
        }
        if (fresh === undefined || fresh === token) {
          this.#events.emit('unauthorized', { url, status: response.status, retried: false })
          return response
        }
        await discard(response)
        this.#events.emit('retry', { url })
        // Instrumentation counts replays at the provider, which every client of it shares.
        ;(this.tokens as ObservableProvider)[notifyReplay]?.(this)
        token = fresh
        ;({ response, carried, names } = await this.#attempt(fetchImpl, outgoing, token, names))
      }
      if (replayed && this.#retryOn.includes(response.status)) {
        // The fresh token was refused too (a refresh that raced a revocation): the next request must
        // not send it again. This request still gets no second replay.
        if (carried && verdict === 'refresh') this.tokens.invalidate(token)
        this.#events.emit('unauthorized', { url, status: response.status, retried: true })
      }
      return response
    } finally {
      outgoing.body.release()
    }
  }

  // One send with `token` (and a fresh DPoP proof), its redirects followed.
  async #attempt(
    fetchImpl: typeof fetch,
    outgoing: Outgoing,
    token: string,
    previous: readonly string[],
  ): Promise<Attempt> {
    const dpop = this.#dpop
    let names: readonly string[]
    if (dpop === undefined) names = this.#applyToken(outgoing, token, previous)
    else {
      const proof = await dpop.proof(methodOf(outgoing), outgoing.url, token)
      setHeader(outgoing.headers, 'authorization', `DPoP ${token}`)
      setHeader(outgoing.headers, 'dpop', proof)
      names = dpopNames
    }
    let response = await send(fetchImpl, outgoing)
    let carried = true
    if (outgoing.follow && isRedirect(response.status)) {
      // With DPoP, each hop learns the nonce its answer carried, and a hop that keeps the token gets
      // a proof for its own URL.
      const beforeHop: BeforeHop | undefined =
        dpop === undefined
          ? undefined
          : async (hop, from) => {
              dpop.learn(from.url, from.response)
              if (hop.carried) hop.headers.set('dpop', await dpop.proof(hop.method, hop.url, token))
            }
      ;({ response, carried } = await followRedirects(fetchImpl, outgoing, names, response, beforeHop))
    }
    dpop?.learn(response.url || outgoing.url, response)
    return { response, carried, names }
  }

  /** Sets the token on the request's headers (ours), replacing an earlier one; returns the names it set. */
  #applyToken(outgoing: Outgoing, token: string, previous: readonly string[]): readonly string[] {
    const { headers } = outgoing
    const authorize = this.#authorize
    if (authorize === bearer) {
      setHeader(headers, 'authorization', `Bearer ${token}`)
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

/** One send's outcome, and the header names that carried the token. */
interface Attempt extends Exchanged {
  names: readonly string[]
}

// Methods the fetch standard upper-cases; any other is sent (and so signed) as given.
const normalized = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])

function methodOf(outgoing: Outgoing): string {
  const method = outgoing.init.method ?? outgoing.request?.method ?? 'GET'
  const upper = method.toUpperCase()
  return normalized.has(upper) ? upper : method
}

function setHeader(headers: HeaderBag, name: string, value: string): void {
  if (headers instanceof Headers) headers.set(name, value)
  else headers[name] = value
}

function isUrlInput(input: string | URL | Request): input is string | URL {
  return typeof input === 'string' || input instanceof URL
}
