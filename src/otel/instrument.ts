import { type MeterProvider, metrics, type TracerProvider, trace } from '@opentelemetry/api'
import type { RefreshingClient } from '../client/client.js'
import { isRegistryShape } from '../registry/shape.js'
import type { TokenRegistry } from '../registry/types.js'
import { isTokenProvider } from '../token/shape.js'
import type { TokenProvider } from '../token/types.js'
import { Tracker } from './tracker.js'

/**
 * InstrumentOptions are the options of {@link instrument}.
 *
 * @example
 * ```ts
 * import { MeterProvider } from '@opentelemetry/sdk-metrics'
 * const stop = instrument(registry, { meterProvider: new MeterProvider({ readers: [reader] }) })
 * ```
 */
export interface InstrumentOptions {
  /** Where the metrics go. @default the global meter provider of `@opentelemetry/api` */
  meterProvider?: MeterProvider | undefined
  /** Where the spans go. @default the global tracer provider of `@opentelemetry/api` */
  tracerProvider?: TracerProvider | undefined
}

const scope = 'refreshing-client'

/**
 * instrument records OpenTelemetry metrics and spans for a provider, a registry or a client, and
 * returns the function that stops it. Every instrument carries the attribute `provider` (the scope
 * id, or the provider's `name`; absent for an unnamed provider):
 * - counter `refreshing_client.refreshes` {`outcome`: `success` | `failure`, `reason`}: token requests;
 * - histogram `refreshing_client.refresh.duration` (s), failed requests included;
 * - observable gauge `refreshing_client.token.time_to_expiry` (s), negative once expired;
 * - counter `refreshing_client.replays`: requests replayed with a fresh token after a 401;
 * - counter `refreshing_client.pushes` {`status`}: the push handler's answers (registries only);
 * - span `refreshing_client.refresh` around every `fetchToken` call, status ERROR when it fails.
 *
 * A registry is covered whole: every scope, those created later too, and their clients' replays;
 * a disposed scope stops being watched. A client is covered with its replays and its provider. No
 * attribute, span or event carries a token, a refresh token or a secret, and nothing is recorded
 * on a request's path but a replay.
 *
 * @param target - A `TokenProvider`, a `TokenRegistry` or a `RefreshingClient` (of any copy of the library).
 * @param options - The meter and tracer providers; the global ones by default.
 * @returns The function that stops recording (idempotent).
 * @throws TypeError when `target` is none of those, or a provider option is not one.
 * @throws DisposedError (code `ERR_DISPOSED`) for a disposed registry.
 * @example
 * ```ts
 * import { instrument } from 'refreshing-client/otel'
 * const registry = createRegistry()
 * const stop = instrument(registry) // the global providers, as set up by @opentelemetry/sdk-node
 * // ... at shutdown
 * stop()
 * ```
 */
export function instrument(
  target: TokenProvider | TokenRegistry | RefreshingClient,
  options: InstrumentOptions = {},
): () => void {
  if (typeof options !== 'object' || options === null) throw new TypeError('instrument options must be an object')
  const { meterProvider = metrics.getMeterProvider(), tracerProvider = trace.getTracerProvider() } = options
  if (typeof meterProvider?.getMeter !== 'function') throw new TypeError('meterProvider must be a MeterProvider')
  if (typeof tracerProvider?.getTracer !== 'function') throw new TypeError('tracerProvider must be a TracerProvider')
  const kind = kindOf(target)
  const tracker = new Tracker(meterProvider.getMeter(scope), tracerProvider.getTracer(scope))
  let undo: () => void
  try {
    if (kind === 'registry') undo = watchRegistry(target as TokenRegistry, tracker)
    else if (kind === 'client') undo = tracker.track((target as RefreshingClient).tokens, undefined, target, true)
    else undo = tracker.track(target as TokenProvider, undefined, undefined, true)
  } catch (error) {
    tracker.stop()
    throw error
  }
  let stopped = false
  return () => {
    if (stopped) return
    stopped = true
    undo()
    tracker.stop()
  }
}

// Every scope, present and future, until it leaves the registry; and the push handler's answers.
function watchRegistry(registry: TokenRegistry, tracker: Tracker): () => void {
  const scopes = new Map<string, () => void>()
  const add = (id: string) => {
    const scope = registry.get(id)
    if (scope !== undefined && !scopes.has(id)) scopes.set(id, tracker.track(scope.tokens, id))
  }
  const offs = [
    registry.on('scope', ({ id }) => add(id)),
    registry.on('disposed', ({ id }) => {
      scopes.get(id)?.()
      scopes.delete(id)
    }),
    // An unknown scope is reported without an id: request-chosen ids never become attributes.
    registry.on('push', ({ id, status }) =>
      tracker.pushes.add(1, id === undefined ? { status } : { provider: id, status }),
    ),
  ]
  for (const id of registry.ids()) add(id)
  return () => {
    for (const off of offs) off()
    for (const stop of scopes.values()) stop()
    scopes.clear()
  }
}

// Recognised by shape, as everywhere: objects of another copy of the library work too.
function kindOf(target: unknown): 'registry' | 'client' | 'provider' {
  if (isRegistryShape(target)) return 'registry'
  const candidate = target as { fetch?: unknown; tokens?: unknown } | null
  if (typeof candidate?.fetch === 'function' && isTokenProvider(candidate.tokens)) return 'client'
  if (isTokenProvider(target)) return 'provider'
  throw new TypeError('instrument needs a TokenProvider, a TokenRegistry or a RefreshingClient')
}
