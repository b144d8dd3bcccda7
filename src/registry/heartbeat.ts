import type { RefreshingClient } from '../client/client.js'
import { AuthError, DisposedError, isAuthError, UnauthorizedError } from '../errors.js'
import { aliasDispose } from '../internal/dispose.js'
import { Events } from '../internal/events.js'
import { duration } from '../internal/options.js'
import { Timer } from '../internal/timer.js'
import { redactUrl } from '../internal/url.js'
import { abortAfter } from '../internal/wait.js'
import type { MemberOwner } from './scope.js'
import type { Heartbeat, HeartbeatEvents, HeartbeatOptions } from './types.js'

/** A heartbeat's defaults. */
const heartbeatDefaults = Object.freeze({
  method: 'POST',
  /** Each interval varies by up to ±10%, so that a fleet's beats do not line up. */
  jitterRatio: 0.1,
  /**
   * The default timeout is the interval, but at least this: a beat that waits for a first token, or
   * crosses a loaded machine, needs more than a short interval.
   */
  minTimeoutMs: 10_000,
})

/**
 * startHeartbeat sends `method` (default POST) to `url` at once and then every `intervalMs`
 * (± `jitterRatio`), with the JSON of `body()`, through `client`, so every beat carries the
 * client's token. Beats never overlap: the next waits for the last to finish. The timer is unref'd.
 *
 * @example
 * ```ts
 * const heartbeat = startHeartbeat({ client, url: '/agents/7/heartbeat', intervalMs: 30_000 })
 * heartbeat.on('failure', ({ status, consecutive }) => log.warn({ status, consecutive }, 'heartbeat failed'))
 * ```
 */
export function startHeartbeat(options: HeartbeatOptions & { client: RefreshingClient }): Heartbeat {
  if (typeof options?.client?.fetch !== 'function') throw new TypeError('startHeartbeat needs a client')
  return new HeartbeatImpl(options, options.client, false, undefined)
}

/** A heartbeat; it disposes its client only if it owns it, and leaves its scope when disposed. */
export class HeartbeatImpl implements Heartbeat {
  #sent = 0
  #ok = 0
  #failed = 0
  readonly #client: RefreshingClient
  readonly #url: string | URL
  readonly #method: string
  readonly #body: (() => unknown) | undefined
  readonly #intervalMs: number
  readonly #jitterRatio: number
  readonly #timeoutMs: number
  readonly #ownsClient: boolean
  readonly #owner: MemberOwner | undefined
  readonly #events = new Events<HeartbeatEvents>()
  readonly #timer = new Timer(Date.now, () => {
    this.#beat().then(() => this.#next())
  })
  #inFlight: AbortController | undefined
  #consecutive = 0
  #stopped = false
  declare [Symbol.dispose]: () => void

  constructor(
    options: HeartbeatOptions,
    client: RefreshingClient,
    ownsClient: boolean,
    owner: MemberOwner | undefined,
  ) {
    const { url, method = heartbeatDefaults.method, body } = options
    if (typeof url !== 'string' && !(url instanceof URL)) throw new TypeError('heartbeat url must be a string or URL')
    const intervalMs = duration('intervalMs', options.intervalMs ?? Number.NaN, 0)
    const { jitterRatio = heartbeatDefaults.jitterRatio } = options
    if (!(jitterRatio >= 0 && jitterRatio < 1)) throw new RangeError('jitterRatio must be at least 0 and below 1')
    const timeoutMs = duration('timeoutMs', options.timeoutMs, Math.max(intervalMs, heartbeatDefaults.minTimeoutMs), {
      infinite: true,
    })
    if (typeof method !== 'string') throw new TypeError('method must be a string')
    if (body !== undefined && typeof body !== 'function') throw new TypeError('body must be a function')
    this.#client = client
    this.#url = url
    this.#method = method
    this.#body = body
    this.#intervalMs = intervalMs
    this.#jitterRatio = jitterRatio
    this.#timeoutMs = timeoutMs
    this.#ownsClient = ownsClient
    this.#owner = owner
    this.#arm(0)
  }

  get sent(): number {
    return this.#sent
  }

  get ok(): number {
    return this.#ok
  }

  get failed(): number {
    return this.#failed
  }

  on<K extends keyof HeartbeatEvents>(type: K, handler: (event: HeartbeatEvents[K]) => void): () => void {
    if (this.#stopped) throw new DisposedError('heartbeat')
    return this.#events.on(type, handler)
  }

  stop(): void {
    this.dispose()
  }

  dispose(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#timer.clear()
    this.#inFlight?.abort()
    this.#events.clear()
    if (this.#ownsClient) this.#client.dispose()
    this.#owner?.release(this)
  }

  #arm(delayMs: number): void {
    this.#timer.set(Date.now() + delayMs)
  }

  #next(): void {
    if (this.#stopped) return
    const spread = this.#intervalMs * this.#jitterRatio
    this.#arm(this.#intervalMs + (Math.random() * 2 - 1) * spread)
  }

  // Never rejects: every outcome is counted and becomes an event.
  async #beat(): Promise<void> {
    const controller = new AbortController()
    this.#inFlight = controller
    const timedOut = () => new AuthError('heartbeat timed out', { code: 'ERR_HEARTBEAT_TIMEOUT' })
    const cancelTimeout = abortAfter(controller, this.#timeoutMs, timedOut)
    this.#sent++
    try {
      const init: RequestInit = { method: this.#method, signal: controller.signal }
      if (this.#body !== undefined) {
        init.body = JSON.stringify(this.#body())
        init.headers = { 'content-type': 'application/json' }
      }
      const response = await this.#client.fetch(this.#url, init)
      await response.body?.cancel().catch(() => {})
      if (this.#stopped) return
      this.#events.emit('beat', { status: response.status, ok: response.ok })
      if (response.ok) {
        this.#ok++
        this.#consecutive = 0
      } else {
        this.#fail({
          status: response.status,
          ...(response.status === 401 ? { error: unauthorized(response.status, this.#url) } : {}),
        })
      }
    } catch (error) {
      if (!this.#stopped) this.#fail({ error })
      // The client is gone (disposed): no later beat can succeed, so the heartbeat stops.
      if (isAuthError(error, 'ERR_DISPOSED')) this.dispose()
    } finally {
      cancelTimeout()
      this.#inFlight = undefined
    }
  }

  #fail(event: { status?: number; error?: unknown }): void {
    this.#failed++
    this.#events.emit('failure', { ...event, consecutive: ++this.#consecutive })
  }

  toJSON(): { sent: number; ok: number; failed: number } {
    return { sent: this.sent, ok: this.ok, failed: this.failed }
  }
}

aliasDispose(HeartbeatImpl)

function unauthorized(status: number, url: string | URL): UnauthorizedError {
  const target = redactUrl(String(url))
  return new UnauthorizedError(`heartbeat to ${target} was refused (${status}) even with a fresh token`, {
    status,
    url: target,
  })
}
