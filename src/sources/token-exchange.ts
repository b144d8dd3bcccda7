import type { FetchToken } from '../token/types.js'
import type { ClientAuthOptions } from './client-auth.js'
import type { TokenEndpointOptions } from './endpoint-options.js'
import { presentedGrant } from './presented-grant.js'
import { checkSubject, type SubjectToken } from './subject-token.js'

/**
 * TokenExchangeOptions are the options of {@link tokenExchange}. `resource` (RFC 8707, one or
 * several absolute URIs) comes with the shared {@link TokenEndpointOptions}.
 *
 * @example
 * ```ts
 * const options: TokenExchangeOptions = {
 *   issuer: 'https://auth.example.com',
 *   clientId: 'ci-deployer',
 *   subjectToken: kubernetesToken, // a TokenProvider over the projected service account token
 *   audience: 'https://api.example.com',
 *   scope: 'deploy',
 * }
 * ```
 */
export interface TokenExchangeOptions extends TokenEndpointOptions, ClientAuthOptions {
  /** The token that says who is asking (`subject_token`): a provider or an async function, asked for every exchange. */
  subjectToken: SubjectToken
  /** Its type (`subject_token_type`). @default 'urn:ietf:params:oauth:token-type:jwt' */
  subjectTokenType?: string | undefined
  /** For delegation, the token of the party acting on the subject's behalf (`actor_token`). */
  actorToken?: SubjectToken | undefined
  /** Its type (`actor_token_type`). Only with `actorToken`. @default 'urn:ietf:params:oauth:token-type:jwt' */
  actorTokenType?: string | undefined
  /** Where the new token will be used (`audience`, a logical name); several are sent as several parameters. */
  audience?: string | readonly string[] | undefined
  /** The scope to request, space-separated. */
  scope?: string | undefined
  /** The type of token wanted (`requested_token_type`). @default none: the server decides */
  requestedTokenType?: string | undefined
}

const source = 'tokenExchange'
/** RFC 8693 §2.1's grant type. */
const grantType = 'urn:ietf:params:oauth:grant-type:token-exchange'
/** RFC 8693 §3: a JWT, the default type of what is presented. */
const jwtTokenType = 'urn:ietf:params:oauth:token-type:jwt'

/**
 * tokenExchange is a {@link FetchToken} for OAuth 2.0 token exchange (RFC 8693): it trades a token
 * the workload already has (a Kubernetes service account token, a CI OIDC token, a user's token for
 * on-behalf-of delegation, the result of another exchange) for one for an API.
 *
 * The subject (and actor) token is read fresh for every exchange, so a chain never presents an
 * expired subject, and the exchanged token's own expiry drives its refreshes: one exchange per
 * refresh point, however often the subject rotates. A subject whose `exp` has passed is not sent.
 * The answer's `issued_token_type` is kept as `TokenSet.issuedTokenType`; a `refresh_token` in it is
 * ignored (the next exchange presents a fresh subject instead). The client authenticates as every
 * source does (`client_secret_basic` with a `clientSecret`, `private_key_jwt` with a `privateKey`,
 * `none` without either), and the endpoint may be discovered from `issuer` or `protectedResource`.
 *
 * Errors: `invalid_grant` and `invalid_target` are terminal (an `OAuth2Error` with `terminal: true`)
 * only when every token presented was still valid when the server answered, by its `exp` on the
 * token endpoint's clock as estimated from its `Date` headers. A subject that had expired, or an
 * opaque one, makes them not terminal, and its provider is told to replace it. A subject source
 * that fails is a non-terminal `AuthError` (`ERR_TOKEN_SOURCE`), terminal when its provider has
 * given up. No message carries a token.
 *
 * @throws TypeError or RangeError for invalid options, naming the option.
 *
 * @example
 * ```ts
 * import { fileToken } from 'refreshing-client/node'
 *
 * const api = new RefreshingClient({
 *   baseUrl: 'https://api.example.com',
 *   tokens: {
 *     fetchToken: tokenExchange({
 *       tokenUrl: 'https://auth.example.com/oauth2/token',
 *       clientId: 'billing-agent',
 *       subjectToken: createTokenProvider({ fetchToken: fileToken('/var/run/secrets/tokens/sa-token', { watch: true }) }),
 *       audience: 'https://api.example.com',
 *     }),
 *   },
 * })
 * ```
 */
export function tokenExchange(options: TokenExchangeOptions): FetchToken {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${source}: options must be an object`)
  const subject = checkSubject(source, 'subjectToken', options.subjectToken)
  const actor = options.actorToken === undefined ? undefined : checkSubject(source, 'actorToken', options.actorToken)
  const subjectType = tokenType('subjectTokenType', options.subjectTokenType)
  if (actor === undefined && options.actorTokenType !== undefined) {
    throw new TypeError(`${source}: actorTokenType needs an actorToken`)
  }
  const actorType = tokenType('actorTokenType', options.actorTokenType)
  const requested =
    options.requestedTokenType === undefined ? undefined : text('requestedTokenType', options.requestedTokenType)
  const scope = options.scope === undefined ? undefined : text('scope', options.scope)
  const audiences = audienceList(options.audience)

  const tail: (readonly [string, string])[] = [
    ...audiences.map((value) => ['audience', value] as const),
    ...(scope === undefined ? [] : [['scope', scope] as const]),
    ...(requested === undefined ? [] : [['requested_token_type', requested] as const]),
  ]
  return presentedGrant(source, options, {
    reserved: [
      'grant_type',
      'subject_token',
      'subject_token_type',
      'actor_token',
      'actor_token_type',
      'audience',
      'scope',
      'requested_token_type',
    ],
    tokens:
      actor === undefined
        ? [['subjectToken', subject]]
        : [
            ['subjectToken', subject],
            ['actorToken', actor],
          ],
    params: ([subjectToken, actorToken]) => [
      ['grant_type', grantType],
      ['subject_token', (subjectToken as { value: string }).value],
      ['subject_token_type', subjectType],
      ...(actorToken === undefined
        ? []
        : [['actor_token', actorToken.value] as const, ['actor_token_type', actorType] as const]),
      ...tail,
    ],
  })
}

function tokenType(name: string, value: unknown): string {
  return value === undefined ? jwtTokenType : text(name, value)
}

function text(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new TypeError(`${source}: ${name} must be a non-empty string`)
  return value
}

function audienceList(value: unknown): string[] {
  if (value === undefined) return []
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`${source}: audience must be a string or a non-empty array of strings`)
  }
  return list.map((item) => text('audience', item))
}
