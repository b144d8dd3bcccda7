import { AuthError, DisposedError, isAuthError, RefreshError } from '../errors.js'
import { describeError as describe } from '../internal/describe.js'
import { aliasDispose } from '../internal/dispose.js'
import { Events } from '../internal/events.js'
import { withSignal } from '../internal/signal.js'
import { clampDelay, maxTimerDelayMs, Timer, unrefTimer } from '../internal/timer.js'
import { ClockOffset } from './clock.js'
import { call, refreshThroughStore, spendsShared } from './fleet.js'
import { notifyReplay, type ObserverHandle, Observers, observeProvider, type ProviderObserver } from './observe.js'
import { type ResolvedOptions, resolveOptions, type TokenProviderOptions } from './options.js'
import { backoffDelay, scheduleFor } from './schedule.js'
import { checkClaims, decodeClaims, isNewer, parseToken, type TokenInput, type TokenSet } from './token-set.js'
import {
  type GetTokenOptions,
  peekToken,
  type RefreshReason,
  type TokenHealth,
  type TokenProvider,
  type TokenProviderEvents,
  type TokenProviderState,
  type TokenReason,
} from './types.js'

/**
 * createTokenProvider makes a {@link TokenProvider} for one identity.
 *
 * @example
 * ```ts
 * const tokens = createTokenProvider({
 *   name: 'agent-7',
 *   initialToken: process.env.AGENT_TOKEN,
 *   fetchToken: async ({ signal }) => (await fetch(tokenUrl, { signal })).text(),
 * })
 * const token = await tokens.getToken()
 * ```
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  return new Provider(options)
}

/** The token held, with its schedule. */
interface Held {
  readonly set: TokenSet
  readonly refreshAt: number
  readonly expiredAt: number
  /** A server rejected it (`invalidate`): it is no longer served. */
  rejected: boolean
  expiredEmitted: boolean
}

/** A refresh's result: the token, and whether it came from the fleet's store. */
interface Pulled {
  token: TokenSet
  fromStore: boolean
}

interface Flight {
  readonly promise: Promise<TokenSet>
  readonly controller: AbortController
  readonly timeout: ReturnType<typeof setTimeout> | undefined
  /** A ref'd timer held while a caller awaits this refresh, so the process cannot exit under it. */
  keepAlive: ReturnType<typeof setTimeout> | undefined
}

const noop = () => {}

class Provider implements TokenProvider {
  readonly #options: ResolvedOptions
  readonly #events = new Events<TokenProviderEvents>()
  readonly #timer: Timer
  #held: Held | undefined
  /** Bumped whenever the held token changes: a pull only replaces the token it was started for. */
  #seq = 0
  #flight: Flight | undefined
  /** The latest failure, until a success or a push. */
  #error: RefreshError | undefined
  #failures = 0
  /** Unforced attempts wait for this time after a failure (backoff). */
  #retryAt = 0
  #lastStartAt = Number.NEGATIVE_INFINITY
  /** A terminal error or exhausted attempts: only `refresh()` or a push leave this state. */
  #terminal = false
  #disposed = false
  #detach: (() => void) | undefined
  #unwatch: (() => void) | undefined
  #storeDownUntil = 0
  /** The issuer's clock, as far as our own fetches show it; schedules run on it. */
  readonly #clock = new ClockOffset()
  /** When a refresh last succeeded (for `health()`). */
  #lastRefreshAt: number | undefined
  /** Instrumentation watching this provider; made by the first observer (most providers have none). */
  #observers: Observers | undefined
  readonly #name: string | undefined
  declare [Symbol.dispose]: () => void

  constructor(options: TokenProviderOptions) {
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
      this.#unwatch = this.#watchStore()
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
    if (!isValid(held, now)) return 'expired'
    return now >= held.refreshAt ? 'stale' : 'fresh'
  }

  async getToken(options?: GetTokenOptions): Promise<string> {
    return (await this.getTokenSet(options)).accessToken
  }

  getTokenSet(options: GetTokenOptions = {}): Promise<TokenSet> {
    if (this.#disposed) return Promise.reject(new DisposedError(this.#options.label))
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason)
    if (options.forceRefresh === true) return withSignal(this.#refreshNow('manual'), options.signal)
    const now = this.#options.now()
    const held = this.#held
    if (held !== undefined && isValid(held, now)) {
      if (now >= held.refreshAt) this.#startUnforced(now)
      return Promise.resolve(held.set)
    }
    return withSignal(this.#awaitValid(now), options.signal)
  }

  [peekToken](): string | undefined {
    const held = this.#held
    if (held === undefined || this.#disposed) return undefined
    const now = this.#options.now()
    if (!isValid(held, now)) return undefined
    if (now >= held.refreshAt) this.#startUnforced(now)
    return held.set.accessToken
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
    this.#share(set)
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
      healthy: held !== undefined && isValid(held, now),
      consecutiveFailures: this.#failures,
    }
    if (held?.set.expiresAt !== undefined) health.expiresAt = held.set.expiresAt
    const refreshAt = held === undefined ? Number.POSITIVE_INFINITY : Math.max(held.refreshAt, this.#retryAt)
    if (Number.isFinite(refreshAt) && !this.#terminal) health.refreshAt = refreshAt
    if (this.#lastRefreshAt !== undefined) health.lastRefreshAt = this.#lastRefreshAt
    const error = this.#error
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
    if (flight !== undefined) {
      clearTimeout(flight.timeout)
      clearTimeout(flight.keepAlive)
      flight.controller.abort(new DisposedError(this.#options.label))
    }
    this.#held = undefined
    this.#observers = undefined
    const detach = this.#detach
    const unwatch = this.#unwatch
    this.#detach = undefined
    this.#unwatch = undefined
    try {
      try {
        unwatch?.()
      } finally {
        detach?.()
      }
    } finally {
      this.#events.emit('disposed', undefined)
      this.#events.clear()
    }
  }

  /**
   * Store hook: offers a token from outside (a push or the fleet's store). Returns whether it
   * replaced the current one.
   */
  #offer(offered: TokenSet, reason: TokenReason): boolean {
    const current = this.#held
    // A pushed or stored token without a refresh token keeps the one we have (the latest rotated).
    const set =
      offered.refreshToken === undefined && current?.set.refreshToken !== undefined
        ? { ...offered, refreshToken: current.set.refreshToken }
        : offered
    const held = this.#hold(set)
    if (!isValid(held, this.#options.now())) return false
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

  // MUST refresh: no token, or inside clock skew of expiry, or rejected by a server ->
  // callers await the refresh (joining the one in flight). While refreshes are failing, they get
  // the latest error at once until the backoff allows the next attempt, so nobody hangs and a
  // dead endpoint is not hammered by every request.
  #awaitValid(now: number): Promise<TokenSet> {
    if (this.#flight !== undefined) return this.#join(this.#flight)
    if (this.#error !== undefined && (this.#terminal || now < this.#retryAt)) return Promise.reject(this.#error)
    if (this.#options.fetchToken === undefined) {
      return Promise.reject(
        new RefreshError(`${this.#options.label} has no valid token, and no fetchToken to get one`, {
          code: 'ERR_NO_TOKEN',
        }),
      )
    }
    const throttle = this.#lastStartAt + this.#options.minRefreshIntervalMs - now
    return this.#join(this.#start(this.#reasonFor(now), throttle))
  }

  // A caller awaits this refresh: hold the process open until it settles. Every timer of ours is
  // unref'd, so without this a one-shot script whose request waits out the throttle or the store
  // would exit with the request never sent. Background refreshes nobody awaits hold nothing.
  #join(flight: Flight): Promise<TokenSet> {
    flight.keepAlive ??= setTimeout(noop, maxTimerDelayMs)
    return flight.promise
  }

  // SHOULD refresh: past the refresh point but still valid -> refresh in the background and keep
  // serving the current token; never while failed, in flight, backing off or throttled.
  #startUnforced(now: number): void {
    if (
      this.#flight === undefined &&
      !this.#terminal &&
      this.#options.fetchToken !== undefined &&
      now >= this.#retryAt &&
      now >= this.#lastStartAt + this.#options.minRefreshIntervalMs
    ) {
      this.#start(this.#reasonFor(now)).promise.catch(noop)
    }
  }

  #refreshNow(reason: RefreshReason): Promise<TokenSet> {
    if (this.#flight !== undefined) return this.#join(this.#flight)
    if (this.#options.fetchToken === undefined) {
      return Promise.reject(
        new RefreshError(`${this.#options.label} cannot refresh: it has no fetchToken`, { code: 'ERR_NO_TOKEN' }),
      )
    }
    return this.#join(this.#start(reason))
  }

  #start(reason: RefreshReason, delayMs = 0): Flight {
    const controller = new AbortController()
    const seq = this.#seq
    const { now, refreshTimeoutMs } = this.#options
    this.#lastStartAt = now() + Math.max(0, delayMs)
    const timeout =
      refreshTimeoutMs === Number.POSITIVE_INFINITY
        ? undefined
        : setTimeout(
            () => {
              const message = `fetchToken did not settle within ${refreshTimeoutMs} ms`
              controller.abort(new RefreshError(message, { code: 'ERR_REFRESH_TIMEOUT' }))
            },
            clampDelay(refreshTimeoutMs + Math.max(0, delayMs)),
          )
    if (timeout !== undefined) unrefTimer(timeout)
    const settled = () => {
      clearTimeout(timeout)
      clearTimeout(flight.keepAlive)
    }
    const promise = withSignal(this.#pull(reason, controller.signal, delayMs), controller.signal).then(
      ({ token, fromStore }) => {
        settled()
        return this.#succeeded(token, seq, fromStore ? 'store' : reason)
      },
      (error: unknown) => {
        settled()
        throw this.#failed(error)
      },
    )
    const flight: Flight = { promise, controller, timeout, keepAlive: undefined }
    this.#flight = flight
    this.#timer.clear()
    return flight
  }

  async #pull(reason: RefreshReason, signal: AbortSignal, delayMs: number): Promise<Pulled> {
    if (delayMs > 0) await sleep(delayMs, signal)
    const { store, storeKey, storeLeaseMs, storeTimeoutMs, now, fetchToken } = this.#options
    const spends = () => spendsShared(fetchToken, this.#held?.set)
    // Without a store, or while it is down, the provider refreshes on its own, unless that would
    // spend a shared refresh token: such a refresh always goes through the store (and its lease).
    if (store === undefined || (now() < this.#storeDownUntil && !spends())) {
      return { token: await this.#fetch(reason, signal, this.#held?.set), fromStore: false }
    }
    let failed = false
    return refreshThroughStore({
      store,
      key: storeKey as string,
      leaseMs: storeLeaseMs,
      timeoutMs: storeTimeoutMs,
      reason,
      signal,
      current: () => this.#held?.set,
      adopt: (token) => this.#adopt(token, reason),
      // Within one refresh, the store is given up on after its first failure or hang.
      available: () => !failed,
      fetch: (current) => this.#fetch(reason, signal, current),
      spends,
      report: (error) => {
        if (this.#reportStore(error, true)) failed = true
      },
    })
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
      // Evidence of the issuer's clock, before the answer is read on it: the endpoint's `Date` (unless
      // it is wildly off), else the `iat` of a token fetched just now. A token we already hold (a
      // caching endpoint) is no evidence of the time; pushed and stored tokens never are.
      if (date === undefined || !this.#clock.observe(date.value, sentAt, date.at)) {
        const issuedAt = issuedAtOf(input, this.#held?.set.accessToken)
        if (issuedAt !== undefined) this.#clock.observe(issuedAt, sentAt, now())
      }
      return this.#parse(input)
    }
    const set = await (this.#observers?.refresh(reason, request) ?? request())
    // Servers that do not rotate refresh tokens omit them: keep the one we have.
    if (set.refreshToken === undefined && current?.refreshToken !== undefined) {
      return { ...set, refreshToken: current.refreshToken }
    }
    return set
  }

  // A token from the fleet's store: checked like a push, and taken only when newer. An unforced
  // refresh also ends when the stored token is the one we hold and it is fresh (taken through
  // `watch` just as the refresh started): fetching then would spend a second grant.
  #adopt(token: TokenSet, reason?: RefreshReason): 'fresh' | 'stale' | 'refused' {
    let set: TokenSet
    try {
      set = this.#parse(token)
    } catch (error) {
      this.#reportStore(error, false)
      return 'refused'
    }
    const now = this.#options.now()
    if (!this.#offer(set, 'store')) {
      const held = this.#held
      const unforced = reason === 'scheduled' || reason === 'expired' || reason === 'initial'
      const same = held !== undefined && held.set.accessToken === set.accessToken && isValid(held, now)
      return unforced && same && now < (held as Held).refreshAt ? 'fresh' : 'refused'
    }
    return now < (this.#held as Held).refreshAt ? 'fresh' : 'stale'
  }

  // Shares a pushed token with the fleet, in the background: a store problem never fails a push.
  #share(token: TokenSet): void {
    const { store, storeKey, storeTimeoutMs } = this.#options
    if (store === undefined) return
    void call(
      { timeoutMs: storeTimeoutMs, report: (error) => this.#reportStore(error, true) },
      () => store.set(storeKey as string, token),
      undefined,
    )
  }

  // Another process stored a token: take it now if it is newer, rather than at the next refresh.
  #watchStore(): (() => void) | undefined {
    const { store, storeKey, storeTimeoutMs } = this.#options
    if (store?.watch === undefined) return undefined
    let reading = false
    return store.watch(storeKey as string, () => {
      // A refresh in flight reads the store itself.
      if (reading || this.#disposed || this.#flight !== undefined) return
      reading = true
      const context = { timeoutMs: storeTimeoutMs, report: (error: unknown) => this.#reportStore(error, true) }
      void call(context, () => store.get(storeKey as string), undefined).then((token) => {
        reading = false
        if (token !== undefined && !this.#disposed) this.#adopt(token)
      })
    })
  }

  // A store that failed or hung is left alone for a while (five of its timeouts): refreshes meanwhile
  // do not wait for it, and sharing resumes after.
  // Returns whether the store counts as down: an unreadable record is no outage (the refresh goes on
  // through the store, and its set replaces the record).
  #reportStore(error: unknown, unavailable: boolean): boolean {
    if (this.#disposed) return false
    const outage = unavailable && !isAuthError(error, 'ERR_STORE_UNREADABLE')
    if (outage) this.#storeDownUntil = this.#options.now() + 5 * this.#options.storeTimeoutMs
    const reported =
      error instanceof Error ? error : new AuthError(`token store: ${describe(error)}`, { code: 'ERR_STORE' })
    this.#events.emit('error', { error: reported, attempt: 0, willRetry: false, store: true })
    return outage
  }

  #succeeded(set: TokenSet, seq: number, reason: TokenReason): TokenSet {
    if (this.#disposed) throw new DisposedError(this.#options.label)
    this.#flight = undefined
    const now = this.#options.now()
    const held = this.#hold(set)
    const replaced = this.#held
    if (!isValid(held, now)) {
      throw this.#failed(
        new RefreshError(`${this.#options.label}: fetchToken returned a token that has already expired`),
      )
    }
    if (replaced !== undefined && reason !== 'store' && replaced.set.accessToken === set.accessToken) {
      if (replaced.rejected) {
        throw this.#failed(
          new RefreshError(`${this.#options.label}: fetchToken returned the token a server just rejected`),
        )
      }
      // A caching endpoint (a metadata server, a sidecar) may hand back the token we hold: that is
      // no refresh, and asking again every second would hammer it, so a scheduled one backs off
      // like a failure. An explicit refresh() takes the answer as it is. The same token with a
      // later expiry (a sliding session) is a refresh.
      if ((set.expiresAt ?? 0) <= (replaced.set.expiresAt ?? 0)) {
        if (reason !== 'manual') {
          throw this.#failed(
            new RefreshError(`${this.#options.label}: fetchToken returned the token the provider already holds`),
          )
        }
        this.#recovered()
        this.#lastRefreshAt = now
        this.#reschedule()
        return replaced.set
      }
    }
    this.#recovered()
    this.#lastRefreshAt = now
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
    this.#error = refreshError
    this.#terminal = terminal
    // The next attempt waits for the backoff, and for the throttle on unforced refreshes too.
    const at = now()
    const retryAt = terminal
      ? Number.POSITIVE_INFINITY
      : Math.max(
          at + backoffDelay(failures, retry, Math.random),
          this.#lastStartAt + this.#options.minRefreshIntervalMs,
        )
    const retryInMs = terminal ? undefined : retryAt - at
    this.#retryAt = retryAt
    this.#events.emit('error', {
      error: refreshError,
      attempt: failures,
      willRetry: !terminal,
      ...(retryInMs === undefined ? {} : { retryInMs }),
    })
    this.#reschedule()
    return refreshError
  }

  // A refresh succeeded, or a token came from outside: failures, backoff and `failed` are over.
  #recovered(): void {
    this.#failures = 0
    this.#retryAt = 0
    this.#terminal = false
    this.#error = undefined
  }

  #report(error: unknown): void {
    if (this.#disposed) return
    const reported = error instanceof Error ? error : new RefreshError(`${this.#options.label}: ${describe(error)}`)
    this.#events.emit('error', { error: reported, attempt: 0, willRetry: false })
  }

  #install(held: Held, reason: TokenReason): void {
    this.#seq++
    this.#held = held
    const clockOffsetMs = this.#clock.offsetMs
    this.#events.emit('token', {
      token: held.set,
      reason,
      ...(clockOffsetMs === undefined ? {} : { clockOffsetMs }),
    })
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
      refreshAt: refreshAt - offset,
      expiredAt: expiredAt - offset,
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
    return isValid(held, now) ? 'scheduled' : 'expired'
  }

  // The one timer wakes for the next of: the expiry of the held token (for the `expired`
  // event) and the next unforced refresh, which waits for the throttle and the backoff.
  // Background refreshes go on past expiry, and after a failed first fetch, but an empty provider
  // that nobody has asked for a token stays idle.
  #reschedule(): void {
    if (this.#disposed || this.#flight !== undefined) return
    const held = this.#held
    let at = held !== undefined && !held.rejected && !held.expiredEmitted ? held.expiredAt : Number.POSITIVE_INFINITY
    if (this.#options.fetchToken !== undefined && !this.#terminal) {
      const due =
        held === undefined ? (this.#failures > 0 ? 0 : Number.POSITIVE_INFINITY) : held.rejected ? 0 : held.refreshAt
      at = Math.min(at, Math.max(due, this.#lastStartAt + this.#options.minRefreshIntervalMs, this.#retryAt))
    }
    this.#timer.set(at)
  }

  #tick(): void {
    if (this.#disposed) return
    const now = this.#options.now()
    const held = this.#held
    if (held !== undefined && !held.rejected && !held.expiredEmitted && now >= held.expiredAt) {
      held.expiredEmitted = true
      this.#events.emit('expired', { expiresAt: held.set.expiresAt as number })
    }
    const due = held === undefined ? this.#failures > 0 : held.rejected || now >= held.refreshAt
    if (due) this.#startUnforced(now)
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

function isValid(held: Held, now: number): boolean {
  return !held.rejected && now < held.expiredAt
}

// The `iat` of a JWT that `fetchToken` returned, unless it is the token we already hold.
function issuedAtOf(input: TokenInput, held: string | undefined): number | undefined {
  const raw = typeof input === 'string' ? input : (input as { accessToken?: unknown } | null)?.accessToken
  if (typeof raw !== 'string') return undefined
  const token = raw.trim()
  if (token === held) return undefined
  try {
    const iat = decodeClaims(token)?.iat
    return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : undefined
  } catch {
    return undefined // parseToken reports a malformed token, with its own message
  }
}

// Waits `ms`, in steps that setTimeout accepts, until `signal` aborts.
async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  for (let left = ms; left > 0; left -= maxTimerDelayMs) {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(handle)
        reject(signal.reason)
      }
      const handle = setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }, clampDelay(left))
      unrefTimer(handle)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}
