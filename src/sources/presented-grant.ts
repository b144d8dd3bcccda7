import { bindSource } from '../dpop/signer.js'
import { AuthError, OAuth2Error } from '../errors.js'
import { ClockOffset } from '../token/clock.js'
import type { FetchToken } from '../token/types.js'
import { type ClientAuthOptions, formEncode } from './client-auth.js'
import type { TokenEndpointOptions } from './endpoint-options.js'
import { resolveEndpoint } from './endpoint-resolver.js'
import { type Presented, readSubject, type SubjectToken } from './subject-token.js'
import { requestToken } from './token-endpoint.js'
import { toTokenInput } from './token-response.js'

/** PresentedGrant describes a grant that presents tokens it gets from elsewhere. */
export interface PresentedGrant {
  /** Form parameters the grant sets itself, which `params` may not replace. */
  readonly reserved: readonly string[]
  /** The tokens to present, by option name, in the order `params` gets them. */
  readonly tokens: ReadonlyArray<readonly [name: string, subject: SubjectToken]>
  /** The grant's form parameters, given the tokens read for this request. */
  params(tokens: readonly Presented[]): (readonly [string, string])[]
}

// RFC 6749 §5.2 and RFC 8693 §2.2.2: the answers that may mean "this token is not good (any more)".
const refusals: ReadonlySet<string> = new Set(['invalid_grant', 'invalid_target'])

/**
 * presentedGrant builds the {@link FetchToken} of a grant that presents a subject token or an
 * assertion (RFC 8693 token exchange, the RFC 7523 JWT-bearer grant), on the shared token endpoint,
 * client authentication, discovery and DPoP of every source.
 *
 * Each request reads every token fresh, and never presents one whose `exp` has passed: a provider
 * is asked once more with `forceRefresh`, and if its token is still expired the request fails (not
 * terminal) without being sent. Times are on the token endpoint's clock as estimated from the
 * `Date` of its answers to our token requests, else on the local clock.
 *
 * Terminal or not: `invalid_grant` and `invalid_target` are terminal only when every token
 * presented was still valid when the server answered (its `exp` still ahead). A token that had
 * expired on the way, or an opaque one, whose validity nobody here can tell, makes the refusal
 * not terminal, and its provider is told (`invalidate`), so the next attempt, paced by the
 * provider's backoff, presents a new one. Why not terminal for an opaque token: a terminal error
 * stops the provider until someone intervenes, which for an agent nobody watches is the silent
 * death this library exists to prevent; a refusal that is not terminal costs one request per
 * backoff step (at most one every 30 s by default) and is reported as an `error` event each time.
 */
export function presentedGrant(
  source: string,
  options: TokenEndpointOptions & ClientAuthOptions,
  grant: PresentedGrant,
): FetchToken {
  const clock = new ClockOffset()
  const base = options.fetch
  // An invalid `fetch` goes through as it is, for the resolver to name it.
  const fetch = base === undefined || typeof base === 'function' ? observeDate(base, clock) : base
  const endpoints = resolveEndpoint(source, { ...options, fetch }, { auth: options, reserved: grant.reserved })
  const issuerNow = () => Date.now() + (clock.offsetMs ?? 0)

  const fetchToken: FetchToken = async ({ signal, reportDate }) => {
    const endpoint = await endpoints.endpoint(signal)
    const tokens = await Promise.all(
      grant.tokens.map(async ([name, subject]) => {
        const first = await readSubject(source, name, subject, signal)
        if (!expired(first, issuerNow())) return first
        const again = first.provider === undefined ? first : await readSubject(source, name, subject, signal, true)
        if (!expired(again, issuerNow())) return again
        throw new AuthError(
          `${source}: the ${name} has expired (on the token endpoint's clock as estimated) and its source gave no newer one; it was not sent`,
          { code: 'ERR_TOKEN_SOURCE' },
        )
      }),
    )
    const secrets = tokens.flatMap(({ value }) => [value, formEncode(value)])
    try {
      const response = await requestToken(endpoint, grant.params(tokens), signal, secrets, { reportDate })
      // A refresh_token in the answer is ignored: the grant is repeated with a fresh subject instead.
      return toTokenInput(response, undefined)
    } catch (error) {
      throw judge(error, tokens, issuerNow())
    }
  }
  // A DPoP-bound token is shared through a store only with processes holding the same key.
  return bindSource(fetchToken, options.dpop)
}

function expired(token: Presented, now: number): boolean {
  return token.expiresAt !== undefined && token.expiresAt <= now
}

// Decides whether a refusal is terminal, by whether every token presented was still valid at
// `answeredAt` (the server judged them before it answered, so this errs towards "not terminal").
function judge(error: unknown, tokens: readonly Presented[], answeredAt: number): unknown {
  if (!(error instanceof OAuth2Error) || !refusals.has(error.error)) return error
  const fields = { error: error.error, errorDescription: error.errorDescription, status: error.status }
  const doubtful = tokens.filter((token) => token.expiresAt === undefined || token.expiresAt <= answeredAt)
  if (doubtful.length === 0) return new OAuth2Error(error.message, fields, { terminal: true })
  for (const { provider, value } of doubtful) provider?.invalidate(value)
  const why = doubtful
    .map(({ name, expiresAt }) => `the ${name} ${expiresAt === undefined ? 'has no exp to check' : 'had expired'}`)
    .join(' and ')
  return new OAuth2Error(`${error.message} (not terminal: ${why}; a new one is tried)`, fields, { terminal: false })
}

/**
 * observeDate wraps `base` so that the `Date` of every answer to a POST (the token requests, not
 * discovery's GETs) feeds `clock`: the token endpoint's clock is what decides whether a subject
 * token has expired. Under ky, so each retry is one more piece of evidence.
 */
function observeDate(base: typeof fetch | undefined, clock: ClockOffset): typeof fetch {
  return async (input, init) => {
    const sentAt = Date.now()
    const response = await (base ?? globalThis.fetch)(input, init)
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
    const date = Date.parse(response.headers.get('date') ?? '')
    if (method.toUpperCase() === 'POST' && Number.isFinite(date)) clock.observe(date, sentAt, Date.now())
    return response
  }
}
