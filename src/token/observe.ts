import type { TokenSet } from './token-set.js'
import type { RefreshReason, TokenProvider } from './types.js'

// The hooks through which instrumentation (`refreshing-client/otel`) watches a provider. They are
// internal, keyed by versioned `Symbol.for` names so that instrumentation from one copy of the
// library sees providers and clients of another. Nothing here is on a request's path: a provider
// calls its observers once per token request, a client once per replay.

/** observeProvider registers a {@link ProviderObserver}; it returns an {@link ObserverHandle}. */
export const observeProvider = Symbol.for('refreshing-client.observeProvider.v1')

/** notifyReplay is how a client tells its provider that it replays a refused request. */
export const notifyReplay = Symbol.for('refreshing-client.notifyReplay.v1')

/** What watches one provider. */
export interface ProviderObserver {
  /**
   * Wraps one token request (the `fetchToken` call and the parse of its answer): it must call
   * `run` exactly once and settle as it settles.
   */
  refresh?(reason: RefreshReason, run: () => Promise<TokenSet>): Promise<TokenSet>
  /** A client of this provider replays a refused request with a fresh token. */
  replay?(client: object): void
}

/** The registration of an observer: the provider's `name` (never its token), and how to stop. */
export interface ObserverHandle {
  readonly name: string | undefined
  stop(): void
}

/** A provider that may offer the hooks (providers from older copies do not). */
export type ObservableProvider = TokenProvider & {
  [observeProvider]?: (observer: ProviderObserver) => ObserverHandle
  [notifyReplay]?: (client: object) => void
}

/** Observers of one provider: an immutable list, so a change while it is walked is harmless. */
export class Observers {
  #list: readonly ProviderObserver[] = []

  add(observer: ProviderObserver): () => void {
    this.#list = [...this.#list, observer]
    return () => {
      this.#list = this.#list.filter((other) => other !== observer)
    }
  }

  /** Runs `run` inside every observer's `refresh` wrapper, the first observer outermost. */
  refresh(reason: RefreshReason, run: () => Promise<TokenSet>): Promise<TokenSet> {
    let call = run
    for (let i = this.#list.length - 1; i >= 0; i--) {
      const observer = this.#list[i] as ProviderObserver
      const wrap = observer.refresh
      if (wrap === undefined) continue
      const inner = call
      call = () => wrap.call(observer, reason, inner)
    }
    return call()
  }

  replay(client: object): void {
    for (const observer of this.#list) observer.replay?.(client)
  }
}
