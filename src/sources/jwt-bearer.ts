import type { FetchToken } from '../token/types.js'
import type { ClientAuthOptions } from './client-auth.js'
import type { TokenEndpointOptions } from './endpoint-options.js'
import { presentedGrant } from './presented-grant.js'
import { checkSubject, type SubjectToken } from './subject-token.js'

/**
 * JwtBearerOptions are the options of {@link jwtBearer}. `resource` (RFC 8707) comes with the shared
 * {@link TokenEndpointOptions}.
 *
 * @example
 * ```ts
 * const options: JwtBearerOptions = {
 *   protectedResource: 'https://tools.example.com/mcp',
 *   clientId: 'ci-agent',
 *   assertion: workloadIdentity, // a TokenProvider over the platform's JWT
 * }
 * ```
 */
export interface JwtBearerOptions extends TokenEndpointOptions, ClientAuthOptions {
  /** The JWT to present (`assertion`): a provider or an async function, asked for every request. */
  assertion: SubjectToken
  /** The scope to request, space-separated. */
  scope?: string | undefined
}

const source = 'jwtBearer'
/** RFC 7523 §2.1's grant type. */
const grantType = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

/**
 * jwtBearer is a {@link FetchToken} for the JWT-bearer authorization grant (RFC 7523 §2.1): the
 * workload presents a JWT its platform gave it (a Kubernetes service account token, a GitHub
 * Actions or cloud OIDC token) and gets an access token for it. It is how LLM providers and MCP's
 * workload identity extension accept workload JWTs.
 *
 * The assertion is read fresh for every request and never sent once its `exp` has passed; the
 * access token's own expiry drives refreshes. The client authenticates as every source does (`none`
 * by default: the assertion is the credential), and the endpoint may be discovered from `issuer` or
 * `protectedResource` (which also sets `resource`). `invalid_grant` and `invalid_target` are
 * terminal only when the assertion was still valid when the server answered; an expired or opaque
 * assertion makes them not terminal, and its provider is told to replace it. No message carries a
 * token.
 *
 * @throws TypeError or RangeError for invalid options, naming the option.
 *
 * @example
 * ```ts
 * import { githubActionsOidc } from 'refreshing-client/node'
 *
 * const mcp = new RefreshingClient({
 *   baseUrl: 'https://tools.example.com/mcp',
 *   tokens: {
 *     fetchToken: jwtBearer({
 *       protectedResource: 'https://tools.example.com/mcp',
 *       clientId: 'ci-agent',
 *       assertion: createTokenProvider({ fetchToken: githubActionsOidc({ audience: 'https://auth.example.com' }) }),
 *     }),
 *   },
 * })
 * ```
 */
export function jwtBearer(options: JwtBearerOptions): FetchToken {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${source}: options must be an object`)
  const assertion = checkSubject(source, 'assertion', options.assertion)
  const { scope } = options
  if (scope !== undefined && (typeof scope !== 'string' || scope.trim() === '')) {
    throw new TypeError(`${source}: scope must be a non-empty string`)
  }
  return presentedGrant(source, options, {
    reserved: ['grant_type', 'assertion', 'scope'],
    tokens: [['assertion', assertion]],
    params: ([presented]) => [
      ['grant_type', grantType],
      ['assertion', (presented as { value: string }).value],
      ...(scope === undefined ? [] : [['scope', scope] as const]),
    ],
  })
}
