import { bindSource } from '../dpop/signer.js'
import type { FetchToken } from '../token/types.js'
import { type ClientAuthMethod, resolveEndpoint, type TokenEndpointOptions } from './endpoint-options.js'
import { requestToken } from './token-endpoint.js'
import { toTokenInput } from './token-response.js'

/**
 * ClientCredentialsOptions are the options of {@link clientCredentials}.
 *
 * @example
 * ```ts
 * const options: ClientCredentialsOptions = {
 *   tokenUrl: 'https://auth.example.com/oauth2/token',
 *   clientId: 'billing-sync',
 *   clientSecret: process.env.BILLING_SYNC_SECRET!,
 *   audience: 'https://api.example.com',
 * }
 * ```
 */
export interface ClientCredentialsOptions extends TokenEndpointOptions {
  /** The client secret. It never appears in an error, an event or an inspected object. */
  clientSecret: string
  /** The scope to request, space-separated. */
  scope?: string | undefined
  /** The `audience` parameter some servers (Auth0, Okta) use to choose the API the token is for. */
  audience?: string | undefined
  /** How the client authenticates (RFC 6749 §2.3.1). @default 'client_secret_basic' */
  authMethod?: ClientAuthMethod | undefined
}

/**
 * clientCredentials is a {@link FetchToken} for the OAuth2 client credentials grant (RFC 6749 §4.4):
 * a service authenticates as itself. A `refresh_token` in the answer is ignored, since the grant can
 * simply be repeated (§4.4.3). Options are checked at once, with a `TypeError` or `RangeError`.
 *
 * @example
 * ```ts
 * const tokens = createTokenProvider({
 *   name: 'billing-sync',
 *   fetchToken: clientCredentials({
 *     tokenUrl: 'https://auth.example.com/oauth2/token',
 *     clientId: 'billing-sync',
 *     clientSecret: process.env.BILLING_SYNC_SECRET!,
 *     scope: 'invoices:read',
 *   }),
 * })
 * ```
 */
export function clientCredentials(options: ClientCredentialsOptions): FetchToken {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('clientCredentials: options must be an object')
  const { clientSecret, scope, audience, authMethod } = options
  if (clientSecret === undefined) throw new TypeError('clientCredentials: clientSecret must be a non-empty string')
  const endpoint = resolveEndpoint('clientCredentials', options, {
    clientSecret,
    authMethod,
    reserved: ['grant_type', 'scope', 'audience'],
  })
  const grant: (readonly [string, string])[] = [['grant_type', 'client_credentials']]
  if (scope !== undefined) grant.push(['scope', checkString('scope', scope)])
  if (audience !== undefined) grant.push(['audience', checkString('audience', audience)])

  const fetchToken: FetchToken = async ({ signal, reportDate }) =>
    toTokenInput(await requestToken(endpoint, grant, signal, [], { reportDate }), undefined)
  // A DPoP-bound token is shared through a store only with processes holding the same key.
  return bindSource(fetchToken, options.dpop)
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`clientCredentials: ${name} must be a string`)
  return value
}
