import { DisposedError, RefreshError } from '../errors.js'
import { aliasDispose } from '../internal/dispose.js'
import { Events } from '../internal/events.js'
import { withSignal } from '../internal/signal.js'
import { Timer } from '../internal/timer.js'
import { delay } from '../internal/wait.js'
import { ClockOffset } from './clock.js'
import { Failures } from './failures.js'
import { fetchOnce } from './fetch-once.js'
import { Flight } from './flight.js'
import {
  expiredEventAt,
  type Held,
  holdToken,
  keepRefreshToken,
  mustRefresh,
  nextUnforcedAt,
  providerHealth,
  readToken,
  reasonFor,
  refusal,
  shouldRefresh,
  stateOf,
  supersedes,
} from './held.js'
import type { LinkHost, LinkStore, Pulled, StoreLink } from './link.js'
import { notifyReplay, type ObserverHandle, Observers, observeProvider, type ProviderObserver } from './observe.js'
import { type ResolvedOptions, resolveOptions, type TokenProviderOptions } from './options.js'
import { isNewer, type TokenInput, type TokenSet } from './token-set.js'
import {
  type GetTokenOptions,
  peekToken,
  type RefreshReason,
  type TokenHealth,
  type TokenProvider,
  type TokenProviderErrorEvent,
  type TokenProviderEvents,
  type TokenProviderState,
  type TokenReason,
} from './types.js'

const noop = () => {}

/**
 * Provider is the state machine of one identity's token: it serves the token it holds, refreshes
 * it before it expires (one refresh at a time, throttled, backing off after failures), and takes
 * tokens pushed to it. The fleet's store, when there is one, is behind a {@link StoreLink}.
 */
export class Provider implements TokenProvider {
  readonly #options: ResolvedOptions
  readonly #events = new Events<TokenProviderEvents>()
  readonly #timer: Timer
  #held: Held | undefined
  /** Bumped whenever the held token changes: a pull only replaces the token it was started for. */
  #seq = 0
  #flight: Flight<Pulled, TokenSet> | undefined
  /** Present while refreshes are failing: from the first failure to the next success or push. */
  #failures: Failures | undefined
  /** Unforced refreshes wait for this time: the last refresh's start plus `minRefreshIntervalMs`. */
  #throttledUntil = Number.NEGATIVE_INFINITY
  #disposed = false
  #detach: (() => void) | undefined
  readonly #link: StoreLink | undefined
  /** The issuer's clock, as far as our own fetches show it; schedules run on it. */
  readonly #clock = new ClockOffset()
  /** When a refresh last succeeded (for `health()`). */
  #lastRefreshAt: number | undefined
  /** Instrumentation watching this provider; made by the first observer (most providers have none). */
  #observers: Observers | undefined
  declare [Symbol.dispose]: () => void

  constructor(options: TokenProviderOptions, linkStore?: LinkStore) {
    this.#options = resolveOptions(options)
    this.#timer = new Timer(this.#options.now, () => this.#tick())
    const initial =
      options.initialToken === undefined ? undefined : readToken(options.initialToken, this.#options, this.#clock)
    // Side effects last, and undone if one throws: a provider nobody holds must not live on.
    try {
      if (initial !== undefined) {
        this.#held = holdToken(initial, this.#options, this.#clock)
        this.#reschedule()
      }
      this.#detach = this.#options.fetchToken?.attach?.(this) ?? undefined
      this.#link = this.#options.store === undefined ? undefined : linkStore?.(this.#options, this.#host())
    } catch (error) {
      this.dispose()
      throw error
    }
  }

  get current(): TokenSet | undefined {
    return this.#held?.set
  }

  get state(): TokenProviderState {
    if (this.#disposed) return 'disposed'
    if (this.#flight !== undefined) return 'refreshing'
    if (this.#failures?.terminal) return 'failed'
    return stateOf(this.#held, this.#options.now())
  }

  async getToken(options?: GetTokenOptions): Promise<string> {
    return (await this.getTokenSet(options)).accessToken
  }

  getTokenSet(options: GetTokenOptions = {}): Promise<TokenSet> {
    if (this.#disposed) return Promise.reject(new DisposedError(this.#options.label))
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason)
    if (options.forceRefresh === true) return withSignal(this.#refreshNow('manual'), options.signal)
    const set = this.#serve()
    return set === undefined ? withSignal(this.#awaitValid(), options.signal) : Promise.resolve(set)
  }

  [peekToken](): string | undefined {
    return this.#disposed ? undefined : this.#serve()?.accessToken
  }

  refresh(options: { signal?: AbortSignal } = {}): Promise<TokenSet> {
    return this.getTokenSet({ ...options, forceRefresh: true })
  }

  setToken(token: TokenInput): boolean {
    if (this.#disposed) throw new DisposedError(this.#options.label)
    const set = readToken(token, this.#options, this.#clock)
    if (!this.#offer(set, 'push')) return false
    this.#link?.share(set)
    return true
  }

  invalidate(accessToken: string): void {
    const held = this.#held
    if (this.#disposed || held === undefined || held.rejected || held.set.accessToken !== accessToken) return
    held.rejected = true
    // Forced: a 401 is proof, so neither the throttle nor the backoff holds this refresh back.
    if (this.#options.fetchToken !== undefined && this.#flight === undefined && !this.#failures?.terminal) {
      this.#start('unauthorized').promise.catch(noop)
    }
    this.#reschedule()
  }

  on<K extends keyof TokenProviderEvents>(type: K, handler: (event: TokenProviderEvents[K]) => void): () => void {
    if (this.#disposed) throw new DisposedError(this.#options.label)
    return this.#events.on(type, handler)
  }

  health(): TokenHealth {
    const facts = { held: this.#held, failures: this.#failures, lastRefreshAt: this.#lastRefreshAt, clock: this.#clock }
    return providerHealth(this.state, facts, this.#options.now())
  }

  [observeProvider](observer: ProviderObserver): ObserverHandle {
    const { name } = this.#options
    if (this.#disposed) return { name, stop: noop }
    this.#observers ??= new Observers()
    return { name, stop: this.#observers.add(observer) }
  }

  [notifyReplay](client: object): void {
    this.#observers?.replay(client)
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#timer.clear()
    this.#flight?.abort(new DisposedError(this.#options.label))
    this.#flight = undefined
    this.#held = undefined
    this.#observers = undefined
    try {
      this.#link?.stop()
    } finally {
      try {
        this.#detach?.()
      } finally {
        this.#events.emit('disposed', undefined)
        this.#events.clear()
      }
    }
  }

  get #nextUnforcedAt(): number {
    return nextUnforcedAt(this.#held, this.#failures, this.#throttledUntil, this.#options.fetchToken !== undefined)
  }

  // The token it may serve now, with a background refresh started when one SHOULD start.
  #serve(): TokenSet | undefined {
    const held = this.#held
    const now = this.#options.now()
    if (held === undefined || mustRefresh(held, now)) return undefined
    if (shouldRefresh(held, now)) this.#startUnforced(now) // the cheap test first: this is every call's path
    return held.set
  }

  // SHOULD refresh: in the background, unless one is in flight, throttled or backing off.
  #startUnforced(now: number): void {
    if (this.#flight === undefined && now >= this.#nextUnforcedAt)
      this.#start(reasonFor(this.#held, now)).promise.catch(noop)
  }

  /** Offers a token from outside (a push or the fleet's store). Returns whether it replaced the current one. */
  #offer(offered: TokenSet, reason: TokenReason): boolean {
    const held = holdToken(keepRefreshToken(offered, this.#held?.set), this.#options, this.#clock)
    const replaces = supersedes(held, this.#held, reason, this.#options.now())
    if (replaces) this.#install(held, reason)
    return replaces
  }

  // MUST refresh: callers await the refresh (joining the one in flight). While refreshes are
  // failing, they get the latest error at once until the backoff allows the next attempt, so nobody
  // hangs and a dead endpoint is not hammered by every request.
  #awaitValid(): Promise<TokenSet> {
    if (this.#flight !== undefined) return this.#flight.join()
    const now = this.#options.now()
    const failures = this.#failures
    if (failures !== undefined && now < failures.retryAt) return Promise.reject(failures.lastError)
    if (this.#options.fetchToken === undefined)
      return this.#noSource('has no valid token, and no fetchToken to get one')
    return this.#start(reasonFor(this.#held, now), this.#throttledUntil - now).join()
  }

  #refreshNow(reason: RefreshReason): Promise<TokenSet> {
    if (this.#flight !== undefined) return this.#flight.join()
    if (this.#options.fetchToken === undefined) return this.#noSource('cannot refresh: it has no fetchToken')
    return this.#start(reason).join()
  }

  #noSource(problem: string): Promise<never> {
    return Promise.reject(new RefreshError(`${this.#options.label} ${problem}`, { code: 'ERR_NO_TOKEN' }))
  }

  // Starts a refresh whose fetch waits `delayMs` first (the throttle an awaited refresh waits out).
  #start(reason: RefreshReason, delayMs = 0): Flight<Pulled, TokenSet> {
    const seq = this.#seq
    const { now, refreshTimeoutMs, minRefreshIntervalMs } = this.#options
    const wait = Math.max(0, delayMs)
    this.#throttledUntil = now() + wait + minRefreshIntervalMs
    const timedOut = () =>
      new RefreshError(`fetchToken did not settle within ${refreshTimeoutMs} ms`, { code: 'ERR_REFRESH_TIMEOUT' })
    this.#flight = new Flight((signal) => this.#pull(reason, signal, wait), refreshTimeoutMs + wait, timedOut, {
      ok: ({ token, fromStore }) => this.#succeeded(token, seq, fromStore ? 'store' : reason),
      failed: (error) => this.#failed(error),
    })
    this.#timer.clear()
    return this.#flight
  }

  async #pull(reason: RefreshReason, signal: AbortSignal, delayMs: number): Promise<Pulled> {
    if (delayMs > 0) await delay(delayMs, { signal })
    if (this.#link !== undefined) return this.#link.pull(reason, signal)
    return { token: await this.#fetch(reason, signal, this.#held?.set), fromStore: false }
  }

  #fetch(reason: RefreshReason, signal: AbortSignal, current: TokenSet | undefined): Promise<TokenSet> {
    return fetchOnce(this.#host(), reason, signal, current)
  }

  // What the store link and each fetch may see and do.
  #host(): LinkHost {
    return {
      options: this.#options,
      clock: this.#clock,
      observers: () => this.#observers,
      held: () => this.#held,
      parse: (input) => readToken(input, this.#options, this.#clock),
      offer: (token) => !this.#disposed && this.#offer(token, 'store'),
      fetch: (reason, signal, current) => this.#fetch(reason, signal, current),
      idle: () => !this.#disposed && this.#flight === undefined,
      emit: (event) => this.#emitError(event),
    }
  }

  #succeeded(set: TokenSet, seq: number, reason: TokenReason): TokenSet {
    if (this.#disposed) throw new DisposedError(this.#options.label)
    this.#flight = undefined
    const { now, label } = this.#options
    const held = holdToken(set, this.#options, this.#clock)
    const replaced = this.#held
    const problem = refusal(held, replaced, reason, now())
    if (problem !== undefined && problem !== 'same') {
      throw this.#failed(new RefreshError(`${label}: fetchToken returned ${problem}`))
    }
    this.#failures = undefined
    this.#lastRefreshAt = now()
    // A push (or the store) may have replaced the token while this pull ran: then the pulled
    // token only wins if it is newer, or if what replaced it has been refused since.
    const wins = seq === this.#seq || replaced === undefined || replaced.rejected || isNewer(set, replaced.set)
    if (problem === undefined && wins) {
      this.#install(held, reason)
      return set
    }
    this.#reschedule()
    return (replaced as Held).set
  }

  #failed(error: unknown): Error {
    if (this.#disposed) return new DisposedError(this.#options.label)
    this.#flight = undefined
    this.#failures ??= new Failures()
    const event = this.#failures.add(error, this.#options, this.#throttledUntil)
    this.#emitError(event)
    this.#reschedule()
    return event.error
  }

  #emitError(event: TokenProviderErrorEvent): void {
    if (!this.#disposed) this.#events.emit('error', event)
  }

  // A token came in (a push, the store, a refresh): failures, backoff and `failed` are over.
  #install(held: Held, reason: TokenReason): void {
    this.#failures = undefined
    this.#seq++
    this.#held = held
    const clockOffsetMs = this.#clock.offsetMs
    this.#events.emit('token', { token: held.set, reason, ...(clockOffsetMs === undefined ? {} : { clockOffsetMs }) })
    this.#reschedule()
  }

  // The one timer wakes for the next of: the expiry of the held token (for the `expired` event)
  // and the next unforced refresh. Background refreshes go on past expiry, and after a failed first
  // fetch, but an empty provider that nobody has asked for a token stays idle.
  #reschedule(): void {
    if (this.#disposed || this.#flight !== undefined) return
    this.#timer.set(Math.min(expiredEventAt(this.#held), this.#nextUnforcedAt))
  }

  #tick(): void {
    if (this.#disposed) return
    const now = this.#options.now()
    const held = this.#held
    if (held !== undefined && now >= expiredEventAt(held)) {
      held.expiredEmitted = true
      this.#events.emit('expired', { expiresAt: held.set.expiresAt as number })
    }
    this.#startUnforced(now)
    this.#reschedule()
  }

  toJSON(): { name: string; state: TokenProviderState } {
    return { name: this.#options.label, state: this.state }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `TokenProvider { ${this.#options.label}, state: '${this.state}' }`
  }
}

aliasDispose(Provider)
