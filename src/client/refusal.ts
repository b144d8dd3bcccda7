import { type Challenge, parseChallenges } from './challenge.js'

/**
 * ChallengeEvent is what a server asked for in one `WWW-Authenticate` challenge of a 401 or 403
 * (RFC 6750 §3, RFC 9470 step-up, RFC 9449): the payload of the client's `challenge` event.
 *
 * @example
 * ```ts
 * client.on('challenge', (challenge: ChallengeEvent) => {
 *   if (challenge.error === 'insufficient_user_authentication') {
 *     stepUp({ acrValues: challenge.acrValues, maxAge: challenge.maxAge })
 *   }
 * })
 * ```
 */
export interface ChallengeEvent {
  /** The request URL, without query or fragment. */
  url: string
  /** The response status, 401 or 403. */
  status: number
  /** The challenge's auth-scheme as the server wrote it, such as `Bearer` or `DPoP`. */
  scheme: string
  /** The `error` parameter, such as `insufficient_scope` or `insufficient_user_authentication`. */
  error?: string
  /** The `scope` parameter: the scope the request needs, space-separated. */
  scope?: string
  /** The `acr_values` parameter (RFC 9470): the authentication context classes the request needs. */
  acrValues?: string
  /** The `max_age` parameter (RFC 9470): the longest time since the user authenticated, in seconds. */
  maxAge?: number
}

/**
 * What a refused response (401 or 403, or a status in `retryOnStatus`) calls for:
 * - `nonce`: a DPoP server wants a fresh nonce (`use_dpop_nonce`): a protocol step, replay at once;
 * - `refresh`: the token was refused (`invalid_token`, or no parseable error where the status is
 *   one of `retryOnStatus`, 0.1's rule): refresh and replay;
 * - `final`: the server wants something a new token cannot give (`insufficient_scope`,
 *   `invalid_request`, `insufficient_user_authentication`, `invalid_dpop_proof`, or any other
 *   error on a 403): the response goes to the caller.
 */
export type Verdict = 'nonce' | 'refresh' | 'final'

// Errors that a refresh cannot cure: another token from the same grant would be refused alike.
const noRefresh: ReadonlySet<string> = new Set([
  'invalid_request',
  'insufficient_scope',
  'insufficient_user_authentication',
  'invalid_dpop_proof',
])

/**
 * judge reads the response's challenges (on 401 and 403 only), reports each but a nonce request
 * to `report`, and returns the verdict. `scheme` is the one the request used (`bearer` or `dpop`,
 * lower case): its challenge decides when the server sent several with errors. Never throws.
 */
export function judge(
  response: Response,
  retryOn: readonly number[],
  scheme: string,
  report: ((challenge: Challenge) => void) | undefined,
): Verdict {
  const { status } = response
  let challenges: Challenge[] = []
  if (status === 401 || status === 403) {
    const header = response.headers.get('www-authenticate')
    if (header !== null) challenges = parseChallenges(header)
  }
  let chosen: string | undefined
  for (const challenge of challenges) {
    const error = challenge.params['error']
    if (error !== undefined && (chosen === undefined || challenge.scheme.toLowerCase() === scheme)) chosen = error
    if (report !== undefined && error !== 'use_dpop_nonce') report(challenge)
  }
  if (chosen === 'use_dpop_nonce') return status === 401 ? 'nonce' : 'final'
  if (chosen === 'invalid_token') return 'refresh'
  if (chosen !== undefined && (noRefresh.has(chosen) || status === 403)) return 'final'
  return retryOn.includes(status) ? 'refresh' : 'final'
}

/** toChallengeEvent makes the event of one challenge; `url` is already without query. */
export function toChallengeEvent(url: string, status: number, challenge: Challenge): ChallengeEvent {
  const { error, scope, acr_values: acrValues, max_age: maxAge } = challenge.params
  const event: ChallengeEvent = { url, status, scheme: challenge.scheme }
  if (error !== undefined) event.error = error
  if (scope !== undefined) event.scope = scope
  if (acrValues !== undefined) event.acrValues = acrValues
  if (maxAge !== undefined && /^\d{1,15}$/.test(maxAge)) event.maxAge = Number(maxAge)
  return event
}
