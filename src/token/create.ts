import type { LinkHost, StoreLink } from './link.js'
import type { ResolvedOptions, TokenProviderOptions } from './options.js'
import { Provider } from './provider.js'
import type { FleetLink } from './store-link.js'
import type { TokenProvider } from './types.js'

/**
 * createTokenProvider makes a {@link TokenProvider} for one identity.
 *
 * @throws {TypeError | RangeError} for options that are not what their type says (the message names the option).
 * @throws {TokenDecodeError} for an `initialToken` that cannot be parsed.
 *
 * @example
 * ```ts
 * const tokens = createTokenProvider({
 *   name: 'agent-7',
 *   initialToken: process.env.AGENT_TOKEN,
 *   fetchToken: async ({ signal }) => (await fetch(tokenUrl, { signal })).text(),
 * })
 * const token = await tokens.getToken()
 * ```
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  return new Provider(options, lazyLink)
}

/**
 * lazyLink links a provider to the fleet's store (`options.store`). It subscribes to the store's
 * `watch` at once, so that a store that cannot watch fails the construction, and loads the rest
 * (`store-link.ts`, `fleet.ts`) with the first refresh, share or notification: a provider without
 * a store never loads it, and bundlers that split code leave it out of an app that has no store.
 */
function lazyLink(options: ResolvedOptions, host: LinkHost): StoreLink {
  let loaded: Promise<FleetLink> | undefined
  // A failed load (a chunk a bundler could not fetch) is forgotten, so that the next use tries again.
  const load = () =>
    (loaded ??= import('./store-link.js').then(
      ({ linkStore }) => linkStore(options, host),
      (error: unknown) => {
        loaded = undefined
        throw error
      },
    ))
  // The background uses report a failed load as a store problem, as every store failure is.
  const inBackground = (use: (link: FleetLink) => void) => {
    load().then(use, (error: unknown) => {
      const reported = error instanceof Error ? error : new Error(String(error))
      host.emit({ error: reported, attempt: 0, willRetry: false, store: true })
    })
  }
  const { store, storeKey } = options
  const unwatch = store?.watch?.(storeKey as string, () => inBackground((link) => link.notified()))
  return {
    pull: async (reason, signal) => {
      const link = await load()
      signal.throwIfAborted() // disposed or timed out while loading: no fetch after that
      return link.pull(reason, signal)
    },
    share: (token) => inBackground((link) => link.share(token)),
    stop: () => unwatch?.(),
  }
}
