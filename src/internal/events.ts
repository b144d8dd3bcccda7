import mitt, { type Emitter, type EventType } from 'mitt'

/** An event emitter whose `on()` returns its unsubscribe function. */
export interface Events<T extends Record<EventType, unknown>> {
  on<K extends keyof T>(type: K, handler: (event: T[K]) => void): () => void
  emit<K extends keyof T>(type: K, event: T[K]): void
  clear(): void
}

/**
 * createEvents wraps mitt so that a throwing handler cannot break the state machine that
 * emitted the event: the exception is rethrown in a microtask, as `EventTarget` reports it.
 */
export function createEvents<T extends Record<EventType, unknown>>(): Events<T> {
  const emitter: Emitter<T> = mitt<T>()
  return {
    on(type, handler) {
      const safe = (event: T[typeof type]) => {
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
    },
    emit: (type, event) => emitter.emit(type, event),
    clear: () => emitter.all.clear(),
  }
}
