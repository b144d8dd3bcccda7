import type { ClockOffset } from './clock.js'
import type { Held } from './held.js'
import type { Observers } from './observe.js'
import type { ResolvedOptions } from './options.js'
import type { TokenInput, TokenSet } from './token-set.js'
import type { RefreshReason, TokenProviderErrorEvent } from './types.js'

// The port between a provider and the fleet's token store. The provider sees only these types;
// `store-link.ts` implements them, and `createTokenProvider` hands it over.

/** A refresh's result: the token, and whether it came from the fleet's store. */
export interface Pulled {
  token: TokenSet
  fromStore: boolean
}

/** The fleet's store as a provider sees it; made only for a provider with a store. */
export interface StoreLink {
  /** Refreshes through the store (and its lease), or locally while the store is down. */
  pull(reason: RefreshReason, signal: AbortSignal): Promise<Pulled>
  /** Shares a pushed token with the fleet, in the background. */
  share(token: TokenSet): void
  /** Stops watching the store. */
  stop(): void
}

/** What a {@link StoreLink}, and each fetch, may see of a provider and do to it. */
export interface LinkHost {
  readonly options: ResolvedOptions
  /** The issuer's clock, as estimated by the provider. */
  readonly clock: ClockOffset
  /** The provider's observers (instrumentation), if any. */
  observers(): Observers | undefined
  /** The token held now, with its schedule. */
  held(): Held | undefined
  /** Reads a token as the provider reads every token; throws for one it refuses. */
  parse(input: TokenInput): TokenSet
  /** Offers a stored token: whether it now serves (newer than the one held, and valid). */
  offer(token: TokenSet): boolean
  /** Gets a token from the source, with the given current token. */
  fetch(reason: RefreshReason, signal: AbortSignal, current: TokenSet | undefined): Promise<TokenSet>
  /** Neither refreshing nor disposed. */
  idle(): boolean
  /** Emits an `error` event, unless the provider is disposed. */
  emit(event: TokenProviderErrorEvent): void
}

/** Makes the {@link StoreLink} of a provider that has a store. */
export type LinkStore = (options: ResolvedOptions, host: LinkHost) => StoreLink
