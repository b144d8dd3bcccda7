import type {
  Heartbeat,
  HeartbeatEvents,
  RefreshingClient,
  RefreshingClientEvents,
  TokenProvider,
  TokenProviderEvents,
  TokenRegistry,
  TokenRegistryEvents,
} from '../../src/index.js'

/** The library's emitters, each with the event map of its typed `on(type, handler)`. */
type EventsOf<E> = E extends RefreshingClient
  ? RefreshingClientEvents
  : E extends TokenProvider
    ? TokenProviderEvents
    : E extends TokenRegistry
      ? TokenRegistryEvents
      : E extends Heartbeat
        ? HeartbeatEvents
        : never

type Emitter = RefreshingClient | TokenProvider | TokenRegistry | Heartbeat

/**
 * record collects every `type` event of `emitter`, in order, into an array typed by the emitter's
 * event map: `record(client, 'retry')` holds what `client.on('retry', …)` hands its handler.
 */
export function record<E extends Emitter, K extends keyof EventsOf<E> & string>(emitter: E, type: K): EventsOf<E>[K][] {
  const events: EventsOf<E>[K][] = []
  ;(emitter.on as (type: K, handler: (event: EventsOf<E>[K]) => void) => () => void).call(emitter, type, (event) =>
    events.push(event),
  )
  return events
}
