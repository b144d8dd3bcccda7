import { RefreshingClient } from '../client/client.js'
import type { RefreshingClientOptions } from '../client/types.js'
import { DisposedError } from '../errors.js'
import { aliasDispose, type DisposableLike, disposeAll, disposeSymbol } from '../internal/dispose.js'
import { createTokenProvider } from '../token/create.js'
import type { TokenProviderOptions } from '../token/options.js'
import { isTokenProvider } from '../token/shape.js'
import type { TokenProvider } from '../token/types.js'
import { HeartbeatImpl } from './heartbeat.js'
import type { Heartbeat, HeartbeatOptions, Releasable, Scope, ScopeOptions } from './types.js'

/** Something whose members can leave it one by one (a scope). */
export interface MemberOwner {
  release(member: DisposableLike): void
}

/** A client made by a scope: disposing it removes it from the scope. */
class ScopedClient extends RefreshingClient {
  readonly #owner: MemberOwner

  constructor(options: RefreshingClientOptions, owner: MemberOwner) {
    super(options)
    this.#owner = owner
  }

  override dispose(): void {
    super.dispose()
    this.#owner.release(this)
  }
}

/**
 * ScopeImpl owns one identity's provider and everything made for it, disposed last-in first-out.
 * Members are few per scope, so a plain array (smaller than a `Set` in an idle fleet) holds them.
 */
export class ScopeImpl implements Scope, MemberOwner {
  readonly id: string
  readonly tokens: TokenProvider
  #members: DisposableLike[] = []
  readonly #leave: (scope: ScopeImpl) => void
  #disposed = false
  declare [Symbol.dispose]: () => void

  constructor(id: string, options: ScopeOptions | undefined, leave: (scope: ScopeImpl) => void) {
    this.id = id
    this.#leave = leave
    const shared = options !== undefined && 'tokens' in options ? options.tokens : undefined
    if (shared !== undefined) {
      if (!isTokenProvider(shared)) throw new TypeError(`scope "${id}": tokens must be a TokenProvider`)
      this.tokens = shared
    } else {
      this.tokens = createTokenProvider({ name: id, ...(options as TokenProviderOptions | undefined) })
      this.#members.push(this.tokens)
    }
  }

  get disposed(): boolean {
    return this.#disposed
  }

  client(options: Omit<RefreshingClientOptions, 'tokens'>): RefreshingClient {
    this.#check()
    const client = new ScopedClient({ ...options, tokens: this.tokens }, this)
    this.#members.push(client)
    return client
  }

  heartbeat(options: HeartbeatOptions): Heartbeat {
    this.#check()
    const own =
      options.client === undefined
        ? new RefreshingClient({ tokens: this.tokens, baseUrl: originOf(options.url) })
        : undefined
    let heartbeat: HeartbeatImpl
    try {
      heartbeat = new HeartbeatImpl(options, options.client ?? (own as RefreshingClient), own !== undefined, this)
    } catch (error) {
      own?.dispose()
      throw error
    }
    this.#members.push(heartbeat)
    return heartbeat
  }

  add<T extends Releasable>(resource: T): T {
    this.#check()
    const valid =
      typeof resource === 'function' ||
      (typeof resource === 'object' &&
        resource !== null &&
        (typeof (resource as unknown as Record<symbol, unknown>)[disposeSymbol] === 'function' ||
          typeof (resource as { dispose?: unknown }).dispose === 'function'))
    if (!valid) throw new TypeError(`scope "${this.id}": add() takes a Disposable or a cleanup function`)
    this.#members.push(resource)
    return resource
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    const members = this.#members
    this.#members = []
    this.#leave(this)
    disposeAll(members, `scope "${this.id}"`)
  }

  /** release forgets a member that was disposed on its own. */
  release(member: DisposableLike): void {
    const index = this.#members.lastIndexOf(member)
    if (index >= 0) this.#members.splice(index, 1)
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError(`scope "${this.id}"`)
  }

  toJSON(): { id: string; disposed: boolean; members: number } {
    return { id: this.id, disposed: this.#disposed, members: this.#members.length }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Scope { id: ${JSON.stringify(this.id)}, disposed: ${this.#disposed}, members: ${this.#members.length} }`
  }
}

aliasDispose(ScopeImpl)

function originOf(url: string | URL): string {
  try {
    return new URL(url).origin
  } catch {
    throw new TypeError('a scope heartbeat without a client needs an absolute url')
  }
}
