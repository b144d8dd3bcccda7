import { bindSource } from '../dpop/signer.js'
import type { FetchToken } from '../token/types.js'
import type { ClientAuthOptions } from './client-auth.js'
import type { TokenEndpointOptions } from './endpoint-options.js'
import { resolveEndpoint } from './endpoint-resolver.js'
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
 *   resource: 'https://api.example.com',
 * }
 * ```
 */
export interface ClientCredentialsOptions extends TokenEndpointOptions, ClientAuthOptions {
  /** The scope to request, space-separated. */
  scope?: string | undefined
  /** The `audience` parameter some servers (Auth0, Okta) use to choose the API the token is for. */
  audience?: string | undefined
}

/**
 * clientCredentials is a {@link FetchToken} for the OAuth2 client credentials grant (RFC 6749 §4.4):
 * a service authenticates as itself. A `refresh_token` in the answer is ignored, since the grant can
 * simply be repeated (§4.4.3). The client authenticates with a `clientSecret` or a `privateKey`
 * (`private_key_jwt`); the token endpoint is `tokenUrl`, or discovered from `issuer` or
 * `protectedResource` (see {@link TokenEndpointOptions}). Options are checked at once, with a
 * `TypeError` or `RangeError`.
 *
 * @throws TypeError or RangeError for invalid options, naming the option.
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
 *
 * // an MCP server: the token endpoint and the resource come from its metadata, the key signs each request
 * const agent = clientCredentials({
 *   protectedResource: 'https://tools.example.com/mcp',
 *   clientId: 'agent-runner',
 *   privateKey: JSON.parse(process.env.AGENT_PRIVATE_JWK!),
 * })
 * ```
 */
export function clientCredentials(options: ClientCredentialsOptions): FetchToken {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('clientCredentials: options must be an object')
  const { clientSecret, privateKey, scope, audience } = options
  // A public client has no credentials to present, and this grant is the client's own.
  if (clientSecret === undefined && privateKey === undefined) {
    throw new TypeError('clientCredentials: give a clientSecret or a privateKey')
  }
  const endpoints = resolveEndpoint('clientCredentials', options, {
    auth: options,
    reserved: ['grant_type', 'scope', 'audience'],
  })
  const grant: (readonly [string, string])[] = [['grant_type', 'client_credentials']]
  if (scope !== undefined) grant.push(['scope', checkString('scope', scope)])
  if (audience !== undefined) grant.push(['audience', checkString('audience', audience)])

  const fetchToken: FetchToken = async ({ signal, reportDate }) =>
    toTokenInput(await requestToken(await endpoints.endpoint(signal), grant, signal, [], { reportDate }), undefined)
  // A DPoP-bound token is shared through a store only with processes holding the same key.
  return bindSource(fetchToken, options.dpop)
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`clientCredentials: ${name} must be a string`)
  return value
}
