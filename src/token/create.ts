import type { TokenProviderOptions } from './options.js'
import { Provider } from './provider.js'
import { linkStore } from './store-link.js'
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
  return new Provider(options, linkStore)
}
