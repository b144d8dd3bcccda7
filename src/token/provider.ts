import { DisposedError, isAuthError, RefreshError } from '../errors.js'
import { describeError as describe } from '../internal/describe.js'
import { aliasDispose } from '../internal/dispose.js'
import { Events } from '../internal/events.js'
import { withSignal } from '../internal/signal.js'
import { Timer } from '../internal/timer.js'
import { delay } from '../internal/wait.js'
import { ClockOffset } from './clock.js'
import { Flight } from './flight.js'
import type { LinkHost, LinkStore, Pulled, StoreLink } from './link.js'
import { notifyReplay, type ObserverHandle, Observers, observeProvider, type ProviderObserver } from './observe.js'
import { type ResolvedOptions, resolveOptions, type TokenProviderOptions } from './options.js'
import { backoffDelay, scheduleFor } from './schedule.js'
import { checkClaims, isNewer, parseToken, type TokenInput, type TokenSet } from './token-set.js'
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

/** The token held, with its schedule (local clock). */
interface Held {
  readonly set: TokenSet
  /** From here on the token SHOULD be refreshed: in the background, while it is still served. */
  readonly shouldRefreshAt: number
  /** From here on the token MUST be refreshed: it is expired, less the clock skew, and not served. */
  readonly mustRefreshAt: number
  /** A server rejected it (`invalidate`): it is no longer served. */
  rejected: boolean
  expiredEmitted: boolean
}

const noop = () => {}

// The token it may serve now (internal to this module).
const peekSet = Symbol('peekSet')

/**
 * Provider is the state machine of one identity's token: it serves the token it holds, refreshes
 * it before it expires (one refresh at a time, backing off after failures), and takes tokens
 * pushed to it. The fleet's store, if any, is behind a {@link StoreLink}.
 */
export class Provider implements TokenProvider {
  readonly #options: ResolvedOptions
  readonly #events = new Events<TokenProviderEvents>()
  readonly #timer: Timer
  #held: Held | undefined
  /** Bumped whenever the held token changes: a pull only replaces the token it was started for. */
  #seq = 0
  #flight: Flight<Pulled, TokenSet> | undefined
  /** Refreshes that failed in a row since the last success or push; the provider is failing while > 0. */
  #failures = 0
  /** The latest of those failures. */
  #lastError: RefreshError | undefined
  /** Unforced attempts wait for this time after a failure (backoff); `Infinity` once failed for good. */
  #retryAt = 0
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
  readonly #name: string | undefined
  declare [Symbol.dispose]: () => void

  constructor(options: TokenProviderOptions, linkStore?: LinkStore) {
    this.#options = resolveOptions(options)
    this.#name = options.name
    this.#timer = new Timer(this.#options.now, () => this.#tick())
    const initial = options.initialToken === undefined ? undefined : this.#parse(options.initialToken)
    // Side effects last, and undone if one throws: a provider nobody holds must not live on.
    try {
      if (initial !== undefined) {
        this.#held = this.#hold(initial)
        this.#reschedule()
      }
      this.#detach = this.#options.fetchToken?.attach?.(this) ?? undefined
      this.#link = this.#options.store === undefined ? undefined : linkStore?.(this.#options, this.#linkHost())
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
    if (this.#terminal) return 'failed'
    const held = this.#held
    if (held === undefined) return 'empty'
    const now = this.#options.now()
    if (mustRefresh(held, now)) return 'expired'
    return now >= held.shouldRefreshAt ? 'stale' : 'fresh'
  }

  async getToken(options?: GetTokenOptions): Promise<string> {
    return (await this.getTokenSet(options)).accessToken
  }

  getTokenSet(options: GetTokenOptions = {}): Promise<TokenSet> {
    if (this.#disposed) return Promise.reject(new DisposedError(this.#options.label))
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason)
    if (options.forceRefresh === true) return withSignal(this.#refreshNow('manual'), options.signal)
    const set = this[peekSet]()
    return set !== undefined ? Promise.resolve(set) : withSignal(this.#awaitValid(), options.signal)
  }

  [peekToken](): string | undefined {
    return this.#disposed ? undefined : this[peekSet]()?.accessToken
  }

  // The token it may serve now, starting a background refresh when one SHOULD start.
  [peekSet](): TokenSet | undefined {
    const held = this.#held
    const now = this.#options.now()
    if (held === undefined || mustRefresh(held, now)) return undefined
    this.#startUnforced(now)
    return held.set
  }

  refresh(options: { signal?: AbortSignal } = {}): Promise<TokenSet> {
    if (this.#disposed) return Promise.reject(new DisposedError(this.#options.label))
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason)
    return withSignal(this.#refreshNow('manual'), options.signal)
  }

  setToken(token: TokenInput): boolean {
    if (this.#disposed) throw new DisposedError(this.#options.label)
    const set = this.#parse(token)
    if (!this.#offer(set, 'push')) return false
    this.#link?.share(set)
    return true
  }

  invalidate(accessToken: string): void {
    const held = this.#held
    if (this.#disposed || held === undefined || held.rejected || held.set.accessToken !== accessToken) return
    held.rejected = true
    // Forced: a 401 is proof, so neither the throttle nor the backoff holds this refresh back.
    if (this.#options.fetchToken !== undefined && this.#flight === undefined && !this.#terminal) {
      this.#start('unauthorized').promise.catch(noop)
    }
    this.#reschedule()
  }

  on<K extends keyof TokenProviderEvents>(type: K, handler: (event: TokenProviderEvents[K]) => void): () => void {
    if (this.#disposed) throw new DisposedError(this.#options.label)
    return this.#events.on(type, handler)
  }

  // Token-free and cheap (readiness probes call it often): the one object, fields set only when known.
  health(): TokenHealth {
    const now = this.#options.now()
    const held = this.#disposed ? undefined : this.#held
    const health: TokenHealth = {
      state: this.state,
      healthy: held !== undefined && !mustRefresh(held, now),
      consecutiveFailures: this.#failures,
    }
    if (held?.set.expiresAt !== undefined) health.expiresAt = held.set.expiresAt
    const refreshAt = held === undefined ? Number.POSITIVE_INFINITY : Math.max(held.shouldRefreshAt, this.#retryAt)
    if (Number.isFinite(refreshAt)) health.refreshAt = refreshAt
    if (this.#lastRefreshAt !== undefined) health.lastRefreshAt = this.#lastRefreshAt
    const error = this.#lastError
    if (error !== undefined) health.lastErrorCode = isAuthError(error.cause) ? error.cause.code : error.code
    const clockOffsetMs = this.#clock.offsetMs
    if (clockOffsetMs !== undefined) health.clockOffsetMs = clockOffsetMs
    return health
  }

  [observeProvider](observer: ProviderObserver): ObserverHandle {
    if (this.#disposed) return { name: this.#name, stop: noop }
    this.#observers ??= new Observers()
    return { name: this.#name, stop: this.#observers.add(observer) }
  }

  [notifyReplay](client: object): void {
    this.#observers?.replay(client)
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#timer.clear()
    const flight = this.#flight
    this.#flight = undefined
    flight?.abort(new DisposedError(this.#options.label))
    this.#held = undefined
    this.#observers = undefined
    const detach = this.#detach
    this.#detach = undefined
    try {
      try {
        this.#link?.stop()
      } finally {
        detach?.()
      }
    } finally {
      this.#events.emit('disposed', undefined)
      this.#events.clear()
    }
  }

  /** Failed for good (a terminal error, or attempts exhausted): only `refresh()` or a push leave it. */
  get #terminal(): boolean {
    return this.#retryAt === Number.POSITIVE_INFINITY
  }

  /**
   * When the next unforced refresh (the timer's, `getToken`'s) may start, on the local clock:
   * the held token's refresh point (at once for a refused token, or after a failed first fetch),
   * held back by the throttle and the backoff; `Infinity` when none will.
   */
  get #nextUnforcedAt(): number {
    if (this.#options.fetchToken === undefined || this.#terminal) return Number.POSITIVE_INFINITY
    const held = this.#held
    const due =
      held === undefined
        ? this.#failures > 0
          ? 0
          : Number.POSITIVE_INFINITY
        : held.rejected
          ? 0
          : held.shouldRefreshAt
    return Math.max(due, this.#throttledUntil, this.#retryAt)
  }

  /** Offers a token from outside (a push or the fleet's store). Returns whether it replaced the current one. */
  #offer(offered: TokenSet, reason: TokenReason): boolean {
    const current = this.#held
    // A pushed or stored token without a refresh token keeps the one we have (the latest rotated).
    const set =
      offered.refreshToken === undefined && current?.set.refreshToken !== undefined
        ? { ...offered, refreshToken: current.set.refreshToken }
        : offered
    const held = this.#hold(set)
    if (mustRefresh(held, this.#options.now())) return false
    if (
      current !== undefined &&
      !(current.rejected ? set.accessToken !== current.set.accessToken : isNewer(set, current.set, reason === 'push'))
    ) {
      return false
    }
    this.#recovered()
    this.#install(held, reason)
    return true
  }

  // MUST refresh: callers await the refresh (joining the one in flight). While refreshes are
  // failing, they get the latest error at once until the backoff allows the next attempt, so nobody
  // hangs and a dead endpoint is not hammered by every request.
  #awaitValid(): Promise<TokenSet> {
    if (this.#flight !== undefined) return this.#flight.join()
    const now = this.#options.now()
    if (this.#failures > 0 && now < this.#retryAt) return Promise.reject(this.#lastError)
    if (this.#options.fetchToken === undefined) {
      const message = `${this.#options.label} has no valid token, and no fetchToken to get one`
      return Promise.reject(new RefreshError(message, { code: 'ERR_NO_TOKEN' }))
    }
    return this.#start(this.#reasonFor(now), this.#throttledUntil - now).join()
  }

  // SHOULD refresh: refresh in the background and keep serving the current token.
  #startUnforced(now: number): void {
    if (this.#flight === undefined && now >= this.#nextUnforcedAt) this.#start(this.#reasonFor(now)).promise.catch(noop)
  }

  #refreshNow(reason: RefreshReason): Promise<TokenSet> {
    if (this.#flight !== undefined) return this.#flight.join()
    if (this.#options.fetchToken === undefined) {
      const message = `${this.#options.label} cannot refresh: it has no fetchToken`
      return Promise.reject(new RefreshError(message, { code: 'ERR_NO_TOKEN' }))
    }
    return this.#start(reason).join()
  }

  #start(reason: RefreshReason, delayMs = 0): Flight<Pulled, TokenSet> {
    const seq = this.#seq
    const { now, refreshTimeoutMs, minRefreshIntervalMs } = this.#options
    const wait = Math.max(0, delayMs)
    this.#throttledUntil = now() + wait + minRefreshIntervalMs
    const flight = new Flight(
      (signal) => this.#pull(reason, signal, wait),
      refreshTimeoutMs + wait,
      () =>
        new RefreshError(`fetchToken did not settle within ${refreshTimeoutMs} ms`, { code: 'ERR_REFRESH_TIMEOUT' }),
      {
        ok: ({ token, fromStore }: Pulled) => this.#succeeded(token, seq, fromStore ? 'store' : reason),
        failed: (error) => this.#failed(error),
      },
    )
    this.#flight = flight
    this.#timer.clear()
    return flight
  }

  async #pull(reason: RefreshReason, signal: AbortSignal, delayMs: number): Promise<Pulled> {
    if (delayMs > 0) await delay(delayMs, { signal })
    if (this.#link !== undefined) return this.#link.pull(reason, signal)
    return { token: await this.#fetch(reason, signal, this.#held?.set), fromStore: false }
  }

  async #fetch(reason: RefreshReason, signal: AbortSignal, current: TokenSet | undefined): Promise<TokenSet> {
    const fetchToken = this.#options.fetchToken as NonNullable<ResolvedOptions['fetchToken']>
    const { now } = this.#options
    const request = async () => {
      const sentAt = now()
      let date: { value: number; at: number } | undefined
      const input = await fetchToken({
        signal,
        reason,
        ...(current === undefined ? {} : { current }),
        report: (error) => this.#report(error),
        reportDate: (value) => {
          date = { value, at: now() }
        },
      })
      // Evidence of the issuer's clock, taken before the answer is read on it.
      this.#clock.learn(date, input, this.#held?.set.accessToken, sentAt, now())
      return this.#parse(input)
    }
    const set = await (this.#observers?.refresh(reason, request) ?? request())
    // Servers that do not rotate refresh tokens omit them: keep the one we have.
    return set.refreshToken === undefined && current?.refreshToken !== undefined
      ? { ...set, refreshToken: current.refreshToken }
      : set
  }

  // A token from the fleet's store: checked like a push, and taken only when newer. An unforced
  // refresh also ends when the stored token is the one we hold and it is fresh (taken through
  // `watch` just as the refresh started): fetching then would spend a second grant.
  #adopt(token: TokenSet, reason?: RefreshReason): 'fresh' | 'stale' | 'refused' {
    if (this.#disposed) return 'refused'
    let set: TokenSet
    try {
      set = this.#parse(token)
    } catch (error) {
      this.#emitError({ error: error as Error, attempt: 0, willRetry: false, store: true })
      return 'refused'
    }
    const now = this.#options.now()
    const offered = this.#offer(set, 'store')
    const held = this.#held as Held
    if (offered) return now < held.shouldRefreshAt ? 'fresh' : 'stale'
    const unforced = reason === 'scheduled' || reason === 'expired' || reason === 'initial'
    const same = held !== undefined && held.set.accessToken === set.accessToken && !mustRefresh(held, now)
    return unforced && same && now < held.shouldRefreshAt ? 'fresh' : 'refused'
  }

  #linkHost(): LinkHost {
    return {
      current: () => this.#held?.set,
      adopt: (token, reason) => this.#adopt(token, reason),
      fetch: (reason, signal, current) => this.#fetch(reason, signal, current),
      idle: () => !this.#disposed && this.#flight === undefined,
      report: (event) => this.#emitError(event),
    }
  }

  #succeeded(set: TokenSet, seq: number, reason: TokenReason): TokenSet {
    if (this.#disposed) throw new DisposedError(this.#options.label)
    this.#flight = undefined
    const { now, label } = this.#options
    const held = this.#hold(set)
    const replaced = this.#held
    if (mustRefresh(held, now()))
      throw this.#failed(new RefreshError(`${label}: fetchToken returned a token that has already expired`))
    if (replaced !== undefined && reason !== 'store' && replaced.set.accessToken === set.accessToken) {
      if (replaced.rejected)
        throw this.#failed(new RefreshError(`${label}: fetchToken returned the token a server just rejected`))
      // A caching endpoint (a metadata server, a sidecar) may hand back the token we hold: that is
      // no refresh, and asking again every second would hammer it, so a scheduled one backs off
      // like a failure. An explicit refresh() takes the answer as it is. The same token with a
      // later expiry (a sliding session) is a refresh.
      if ((set.expiresAt ?? 0) <= (replaced.set.expiresAt ?? 0)) {
        if (reason !== 'manual')
          throw this.#failed(new RefreshError(`${label}: fetchToken returned the token the provider already holds`))
        this.#recovered(now())
        this.#reschedule()
        return replaced.set
      }
    }
    this.#recovered(now())
    // A push (or the store) may have replaced the token while this pull ran: then the pulled
    // token only wins if it is newer, or if what replaced it has been refused since.
    if (seq === this.#seq || replaced === undefined || replaced.rejected || isNewer(set, replaced.set)) {
      this.#install(held, reason)
      return set
    }
    this.#reschedule()
    return replaced.set
  }

  #failed(error: unknown): Error {
    if (this.#disposed) return new DisposedError(this.#options.label)
    this.#flight = undefined
    const failures = ++this.#failures
    const { label, retry, now } = this.#options
    const terminal = (isAuthError(error) && error.terminal) || failures >= retry.attempts
    const refreshError = new RefreshError(`${label}: refresh failed (attempt ${failures}): ${describe(error)}`, {
      code: isAuthError(error, 'ERR_REFRESH_TIMEOUT') ? 'ERR_REFRESH_TIMEOUT' : 'ERR_REFRESH',
      cause: error,
      terminal,
    })
    this.#lastError = refreshError
    // The next attempt waits for the backoff, and for the throttle on unforced refreshes too.
    const at = now()
    this.#retryAt = terminal
      ? Number.POSITIVE_INFINITY
      : Math.max(at + backoffDelay(failures, retry, Math.random), this.#throttledUntil)
    this.#emitError({
      error: refreshError,
      attempt: failures,
      willRetry: !terminal,
      ...(terminal ? {} : { retryInMs: this.#retryAt - at }),
    })
    this.#reschedule()
    return refreshError
  }

  // A token came in (a refresh succeeded at `refreshedAt`, or from outside): failures, backoff and `failed` are over.
  #recovered(refreshedAt?: number): void {
    this.#failures = 0
    this.#retryAt = 0
    this.#lastError = undefined
    if (refreshedAt !== undefined) this.#lastRefreshAt = refreshedAt
  }

  #report(error: unknown): void {
    const reported = error instanceof Error ? error : new RefreshError(`${this.#options.label}: ${describe(error)}`)
    this.#emitError({ error: reported, attempt: 0, willRetry: false })
  }

  #emitError(event: TokenProviderErrorEvent): void {
    if (!this.#disposed) this.#events.emit('error', event)
  }

  #install(held: Held, reason: TokenReason): void {
    this.#seq++
    this.#held = held
    const clockOffsetMs = this.#clock.offsetMs
    this.#events.emit('token', { token: held.set, reason, ...(clockOffsetMs === undefined ? {} : { clockOffsetMs }) })
    this.#reschedule()
  }

  #parse(input: TokenInput): TokenSet {
    const set = parseToken(input, { now: this.#issuerNow() })
    const { expectedClaims, label } = this.#options
    if (expectedClaims !== undefined) checkClaims(set, expectedClaims, label)
    return set
  }

  // A token's times are on the issuer's clock; its schedule, like every timer, runs on ours.
  #hold(set: TokenSet): Held {
    const offset = this.#clock.offsetMs ?? 0
    const { refreshAt, expiredAt } = scheduleFor(set, this.#issuerNow(), this.#options, Math.random)
    return {
      set: Object.freeze(set),
      shouldRefreshAt: refreshAt - offset,
      mustRefreshAt: expiredAt - offset,
      rejected: false,
      expiredEmitted: false,
    }
  }

  /** Now on the issuer's clock, as estimated: the base of `expiresIn` and of every schedule. */
  #issuerNow(): number {
    return this.#options.now() + (this.#clock.offsetMs ?? 0)
  }

  #reasonFor(now: number): RefreshReason {
    const held = this.#held
    if (held === undefined) return 'initial'
    if (held.rejected) return 'unauthorized'
    return mustRefresh(held, now) ? 'expired' : 'scheduled'
  }

  // The one timer wakes for the next of: the expiry of the held token (for the `expired` event)
  // and the next unforced refresh. Background refreshes go on past expiry, and after a failed first
  // fetch, but an empty provider that nobody has asked for a token stays idle.
  #reschedule(): void {
    if (this.#disposed || this.#flight !== undefined) return
    const held = this.#held
    const expiry =
      held !== undefined && !held.rejected && !held.expiredEmitted ? held.mustRefreshAt : Number.POSITIVE_INFINITY
    this.#timer.set(Math.min(expiry, this.#nextUnforcedAt))
  }

  #tick(): void {
    if (this.#disposed) return
    const now = this.#options.now()
    const held = this.#held
    if (held !== undefined && !held.rejected && !held.expiredEmitted && now >= held.mustRefreshAt) {
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

/** MUST refresh: the token may not be served (expired, less the clock skew, or refused by a server). */
function mustRefresh(held: Held, now: number): boolean {
  return held.rejected || now >= held.mustRefreshAt
}
