import { DisposedError, isAuthError } from '../errors.js'
import { aliasDispose, disposeAll } from '../internal/dispose.js'
import { Events } from '../internal/events.js'
import { wholeNumber } from '../internal/options.js'
import type { TokenInput } from '../token/token-set.js'
import type { TokenProvider } from '../token/types.js'
import { registryHealth } from './health.js'
import { ScopeImpl } from './scope.js'
import {
  globalRegistryKey,
  type PushStatus,
  type RefreshAllOptions,
  type RefreshAllResult,
  type RegistryHealth,
  reportPush,
  type Scope,
  type ScopeOptions,
  type TokenRegistry,
  type TokenRegistryEvents,
} from './types.js'

/** `refreshAll()`'s defaults. */
const refreshAllDefaults = Object.freeze({
  /** Refreshes at once: enough to renew a few hundred scopes in seconds, few enough not to storm the issuer. */
  concurrency: 8,
})

/**
 * createRegistry makes a {@link TokenRegistry}: one scope per session or identity, each owning
 * its provider, clients and heartbeats, and gone from the registry once disposed.
 *
 * @example
 * ```ts
 * const registry = createRegistry()
 * const agent = registry.scope('agent-7', { fetchToken: fetchAgentToken('agent-7') })
 * const town = agent.client({ baseUrl: 'https://town.example.com/' })
 * agent.heartbeat({ url: 'https://town.example.com/agents/agent-7/heartbeat', intervalMs: 30_000 })
 * // when the session ends
 * agent.dispose()
 * ```
 */
export function createRegistry(): TokenRegistry {
  return new Registry()
}

class Registry implements TokenRegistry {
  readonly #scopes = new Map<string, ScopeImpl>()
  readonly #events = new Events<TokenRegistryEvents>()
  #disposed = false
  declare [Symbol.dispose]: () => void

  get size(): number {
    return this.#scopes.size
  }

  scope(id: string, options?: ScopeOptions): Scope {
    this.#check()
    if (typeof id !== 'string' || id.length === 0) throw new TypeError('a scope id must be a non-empty string')
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new TypeError('scope options must be an object')
    }
    const existing = this.#scopes.get(id)
    if (existing !== undefined) {
      const tokens = options !== undefined && 'tokens' in options ? (options.tokens as TokenProvider) : undefined
      if (tokens !== undefined && tokens !== existing.tokens) {
        throw new TypeError(`scope "${id}" already exists with another provider`)
      }
      return existing
    }
    const scope = new ScopeImpl(id, options, this.#leave)
    this.#scopes.set(id, scope)
    this.#events.emit('scope', { id })
    return scope
  }

  get(id: string): Scope | undefined {
    return this.#scopes.get(id)
  }

  has(id: string): boolean {
    return this.#scopes.has(id)
  }

  ids(): IterableIterator<string> {
    return this.#scopes.keys()
  }

  setToken(id: string, token: TokenInput): boolean {
    this.#check()
    const scope = this.#scopes.get(id)
    return scope === undefined ? false : scope.tokens.setToken(token)
  }

  async refreshAll(options: RefreshAllOptions = {}): Promise<RefreshAllResult> {
    this.#check()
    const { filter } = options
    if (filter !== undefined && typeof filter !== 'function') throw new TypeError('filter must be a function')
    const concurrency = wholeNumber('concurrency', options.concurrency, refreshAllDefaults.concurrency, 1)
    // One refresh per provider, even when scopes share one.
    const work = new Map<TokenProvider, string>()
    for (const scope of this.#scopes.values()) {
      if (!work.has(scope.tokens) && (filter === undefined || filter(scope))) work.set(scope.tokens, scope.id)
    }
    const queue = [...work]
    const counts = { refreshed: 0, failed: 0 }
    let next = 0
    const worker = async () => {
      while (next < queue.length) {
        const [tokens, id] = queue[next++] as [TokenProvider, string]
        try {
          await tokens.refresh()
          counts.refreshed++
        } catch (error) {
          // A push-only provider has nothing to refresh; a disposed one has left.
          if (isAuthError(error, 'ERR_NO_TOKEN') || isAuthError(error, 'ERR_DISPOSED')) continue
          counts.failed++
          this.#events.emit('error', { id, error })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker))
    return counts
  }

  health(): RegistryHealth {
    // A disposed registry serves no one: never report it ready.
    if (this.#disposed) return { healthy: false, scopes: Object.create(null) }
    return registryHealth(this)
  }

  on<K extends keyof TokenRegistryEvents>(type: K, handler: (event: TokenRegistryEvents[K]) => void): () => void {
    this.#check()
    return this.#events.on(type, handler)
  }

  [reportPush](id: string | undefined, status: PushStatus): void {
    if (!this.#disposed) this.#events.emit('push', { id, status })
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    const scopes = [...this.#scopes.values()]
    try {
      disposeAll(scopes, 'the registry')
    } finally {
      this.#scopes.clear()
      this.#events.clear()
      const slot = globalThis as { [globalRegistryKey]?: TokenRegistry }
      if (slot[globalRegistryKey] === this) delete slot[globalRegistryKey]
    }
  }

  // A scope leaves when it is disposed; a newer scope with the same id stays.
  readonly #leave = (scope: ScopeImpl): void => {
    if (this.#scopes.get(scope.id) !== scope) return
    this.#scopes.delete(scope.id)
    this.#events.emit('disposed', { id: scope.id })
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError('the registry')
  }

  toJSON(): { size: number; disposed: boolean } {
    return { size: this.#scopes.size, disposed: this.#disposed }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `TokenRegistry { size: ${this.#scopes.size}, disposed: ${this.#disposed} }`
  }
}

aliasDispose(Registry)
