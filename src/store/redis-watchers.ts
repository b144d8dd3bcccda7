import type { Redis } from 'ioredis'
import { KeyedListeners } from '../internal/listeners.js'

/**
 * Watchers calls listeners when a token is published on their channel. It subscribes on its own
 * connection, a `duplicate()` of the caller's client made on the first `watch` (a connection in
 * subscriber mode cannot run other commands), and only that connection is closed by `close()`.
 */
export class Watchers {
  readonly #redis: Redis
  readonly #report: (what: string, error: unknown) => void
  readonly #listeners = new KeyedListeners({
    onFirst: (channel) => {
      this.#connection()
        .subscribe(channel)
        .catch((error: unknown) => this.#failed(`subscribe to ${channel}`, error))
    },
    onLast: (channel) => {
      this.#subscriber
        ?.unsubscribe(channel)
        .catch((error: unknown) => this.#failed(`unsubscribe from ${channel}`, error))
    },
    onError: (channel, error) => this.#report(`a watcher of ${channel} threw`, error),
  })
  #subscriber: Redis | undefined
  #closed = false

  constructor(redis: Redis, report: (what: string, error: unknown) => void) {
    this.#redis = redis
    this.#report = report
  }

  /** watch calls `listener` on each message on `channel` until the returned function is called. */
  watch(channel: string, listener: () => void): () => void {
    return this.#listeners.add(channel, listener)
  }

  /** close stops every listener and closes the subscriber connection at once, without waiting for Redis. */
  close(): void {
    this.#closed = true
    this.#listeners.clear()
    this.#subscriber?.disconnect()
    this.#subscriber = undefined
  }

  #connection(): Redis {
    if (this.#subscriber !== undefined) return this.#subscriber
    // Whatever the caller's client does offline, the subscription waits for the connection and is
    // renewed after each reconnection: a watcher must not miss tokens after an outage.
    const subscriber = this.#redis.duplicate({
      lazyConnect: false,
      enableOfflineQueue: true,
      autoResubscribe: true,
      maxRetriesPerRequest: null,
    })
    // Connection errors: the caller's own client, on the same server, reports them.
    subscriber.on('error', () => {})
    subscriber.on('message', (channel: string) => this.#listeners.notify(channel))
    this.#subscriber = subscriber
    return subscriber
  }

  #failed(what: string, error: unknown): void {
    // After close(), the commands still queued are rejected: that is the close, not a failure.
    if (!this.#closed) this.#report(`could not ${what}`, error)
  }
}
