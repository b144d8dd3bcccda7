import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableGauge,
  type ObservableResult,
  SpanStatusCode,
  type Tracer,
  ValueType,
} from '@opentelemetry/api'
import { isAuthError } from '../errors.js'
import { errorName } from '../internal/describe.js'
import { healthOf } from '../token/health.js'
import type { ObservableProvider, ObserverHandle, ProviderObserver } from '../token/observe.js'
import { observeProvider } from '../token/observe.js'
import type { TokenSet } from '../token/token-set.js'
import type { RefreshReason, TokenProvider } from '../token/types.js'

/** The names of what `instrument` records (DESIGN §7.5); the README's table lists them. */
const names = Object.freeze({
  refreshes: 'refreshing_client.refreshes',
  duration: 'refreshing_client.refresh.duration',
  timeToExpiry: 'refreshing_client.token.time_to_expiry',
  replays: 'refreshing_client.replays',
  pushes: 'refreshing_client.pushes',
  span: 'refreshing_client.refresh',
})

// Refreshes take from milliseconds (a sidecar) to the 30 s timeout: buckets in seconds across that.
const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** One watched provider: its attributes, and how to stop watching it. */
interface Entry {
  readonly provider: TokenProvider
  readonly attributes: Attributes
  stop(): void
}

/**
 * Tracker records the instruments of one `instrument()` call for the providers it is given. Every
 * attribute is a provider's name or scope id, a refresh reason, an outcome, a status or an error
 * code: never a token, a refresh token or a secret.
 */
export class Tracker {
  readonly #tracer: Tracer
  readonly #refreshes: Counter
  readonly #duration: Histogram
  readonly #gauge: ObservableGauge
  readonly replays: Counter
  readonly pushes: Counter
  readonly #entries = new Set<Entry>()
  readonly #observe = (result: ObservableResult) => this.#collect(result)

  constructor(meter: Meter, tracer: Tracer) {
    this.#tracer = tracer
    this.#refreshes = meter.createCounter(names.refreshes, {
      description: 'Token requests (fetchToken calls), by outcome and reason',
      unit: '{refresh}',
      valueType: ValueType.INT,
    })
    this.#duration = meter.createHistogram(names.duration, {
      description: 'Duration of token requests, failed ones included',
      unit: 's',
      advice: { explicitBucketBoundaries: durationBuckets },
    })
    this.#gauge = meter.createObservableGauge(names.timeToExpiry, {
      description: 'Time until the held token expires (negative once it has)',
      unit: 's',
    })
    this.replays = meter.createCounter(names.replays, {
      description: 'Requests replayed with a fresh token after the server refused the token they carried',
      unit: '{replay}',
      valueType: ValueType.INT,
    })
    this.pushes = meter.createCounter(names.pushes, {
      description: 'Tokens pushed to a registry through the push handler, by the status it answered',
      unit: '{push}',
      valueType: ValueType.INT,
    })
    this.#gauge.addCallback(this.#observe)
  }

  /**
   * track watches `provider` under `id` (a scope id; else the provider's name). With `client`, only
   * that client's replays count. With `untilDisposed`, it stops by itself when the provider is
   * disposed (a registry says so for its scopes). Returns the function that stops it.
   */
  track(provider: TokenProvider, id: string | undefined, client?: object, untilDisposed = false): () => void {
    let attributes: Attributes = {}
    const observer: ProviderObserver = {
      refresh: (reason, run) => this.#refresh(attributes, reason, run),
      replay: (from) => {
        if (client === undefined || from === client) this.replays.add(1, attributes)
      },
    }
    // A provider from a copy without the hooks still gets the gauge.
    const handle: ObserverHandle | undefined = (provider as ObservableProvider)[observeProvider]?.(observer)
    const name = id ?? handle?.name
    attributes = Object.freeze(name === undefined ? {} : { provider: name })
    let off: (() => void) | undefined
    const entry: Entry = {
      provider,
      attributes,
      stop: () => {
        if (!this.#entries.delete(entry)) return
        handle?.stop()
        off?.()
      },
    }
    this.#entries.add(entry)
    if (untilDisposed) {
      try {
        off = provider.on('disposed', () => entry.stop())
      } catch {
        entry.stop() // disposed already
      }
    }
    return entry.stop
  }

  /** stop stops watching every provider and removes the gauge's callback. */
  stop(): void {
    for (const entry of [...this.#entries]) entry.stop()
    this.#gauge.removeCallback(this.#observe)
  }

  // One span around the token request; its outcome, reason and duration recorded when it settles.
  #refresh(attributes: Attributes, reason: RefreshReason, run: () => Promise<TokenSet>): Promise<TokenSet> {
    return this.#tracer.startActiveSpan(names.span, { attributes: { ...attributes, reason } }, (span) => {
      const start = performance.now()
      const record = (outcome: 'success' | 'failure') => {
        const labels = { ...attributes, outcome, reason }
        this.#refreshes.add(1, labels)
        this.#duration.record((performance.now() - start) / 1000, labels)
      }
      return run().then(
        (token) => {
          record('success')
          span.end()
          return token
        },
        (error: unknown) => {
          record('failure')
          // A code or a class name, never the message: a foreign error's message may quote a secret.
          const type = isAuthError(error) ? error.code : errorName(error)
          span.setAttribute('error.type', type)
          span.setStatus({ code: SpanStatusCode.ERROR, message: type })
          span.end()
          throw error
        },
      )
    })
  }

  #collect(result: ObservableResult): void {
    const now = Date.now()
    for (const { provider, attributes } of this.#entries) {
      const health = healthOf(provider)
      if (health.state === 'disposed' || health.expiresAt === undefined) continue
      // Expiry is on the issuer's clock: compare it with the issuer's now.
      result.observe((health.expiresAt - (now + (health.clockOffsetMs ?? 0))) / 1000, attributes)
    }
  }
}
