import type { ResolvedOptions } from './options.js'
import type { TokenSet } from './token-set.js'
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

/** What a {@link StoreLink} may do to its provider. */
export interface LinkHost {
  current(): TokenSet | undefined
  /** Offers a stored token: `'fresh'` when it now serves and needs no refresh. */
  adopt(token: TokenSet, reason?: RefreshReason): 'fresh' | 'stale' | 'refused'
  /** Gets a token from the source, with the given current token. */
  fetch(reason: RefreshReason, signal: AbortSignal, current: TokenSet | undefined): Promise<TokenSet>
  /** Neither refreshing nor disposed. */
  idle(): boolean
  report(event: TokenProviderErrorEvent): void
}

/** Makes the {@link StoreLink} of a provider that has a store. */
export type LinkStore = (options: ResolvedOptions, host: LinkHost) => StoreLink
