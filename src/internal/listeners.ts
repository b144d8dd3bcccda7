/**
 * KeyedListeners are listeners by key (a store key, a Redis channel), for the `watch` of every
 * store: the same function watching twice is called twice and stopped once per stop, a listener
 * that throws neither stops the others nor the caller (its error goes to `onError`), and the first
 * listener of a key and the last one leaving it are told (`onFirst`, `onLast`), so that a
 * subscription can follow them.
 */
export class KeyedListeners {
  readonly #map = new Map<string, Set<() => void>>()
  readonly #hooks: KeyedListenerHooks

  constructor(hooks: KeyedListenerHooks = {}) {
    this.#hooks = hooks
  }

  /** The number of keys watched. */
  get size(): number {
    return this.#map.size
  }

  /** The keys watched. */
  keys(): IterableIterator<string> {
    return this.#map.keys()
  }

  /** add calls `listener` at each {@link notify} of `key`, until the returned function is called. */
  add(key: string, listener: () => void): () => void {
    let set = this.#map.get(key)
    if (set === undefined) {
      set = new Set()
      this.#map.set(key, set)
      this.#hooks.onFirst?.(key)
    }
    // A wrapper per call, so that one function watching twice is stopped once per stop().
    const entry = () => listener()
    set.add(entry)
    const listeners = set
    return () => {
      if (!listeners.delete(entry) || listeners.size > 0 || this.#map.get(key) !== listeners) return
      this.#map.delete(key)
      this.#hooks.onLast?.(key)
    }
  }

  /** notify calls `key`'s listeners (those there when it starts). */
  notify(key: string): void {
    for (const listener of [...(this.#map.get(key) ?? [])]) {
      try {
        listener()
      } catch (error) {
        this.#hooks.onError?.(key, error)
      }
    }
  }

  /** clear forgets every listener, without telling `onLast`. */
  clear(): void {
    this.#map.clear()
  }
}

/** What {@link KeyedListeners} tell their owner. */
export interface KeyedListenerHooks {
  /** The first listener of `key` came. */
  onFirst?(key: string): void
  /** The last listener of `key` left. */
  onLast?(key: string): void
  /** A listener of `key` threw `error`. Default: ignored. */
  onError?(key: string, error: unknown): void
}
