import mitt, { type Emitter, type EventType } from 'mitt'

/**
 * Events is a typed emitter whose `on()` returns its unsubscribe function. The mitt emitter
 * behind it is made on the first subscription: most providers, clients and heartbeats of an idle
 * fleet are never listened to, and an emitter per object would be most of their memory.
 *
 * A throwing handler cannot break the state machine that emitted the event: the exception is
 * rethrown in a microtask, as `EventTarget` reports it.
 */
export class Events<T extends Record<EventType, unknown>> {
  #emitter: Emitter<T> | undefined

  on<K extends keyof T>(type: K, handler: (event: T[K]) => void): () => void {
    this.#emitter ??= mitt<T>()
    const emitter = this.#emitter
    const safe = (event: T[K]) => {
      try {
        handler(event)
      } catch (error) {
        queueMicrotask(() => {
          throw error
        })
      }
    }
    emitter.on(type, safe)
    return () => emitter.off(type, safe)
  }

  emit<K extends keyof T>(type: K, event: T[K]): void {
    this.#emitter?.emit(type, event)
  }

  clear(): void {
    this.#emitter?.all.clear()
  }
}
