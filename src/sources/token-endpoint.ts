import ky, { isHTTPError, isNetworkError, isTimeoutError } from 'ky'
import { AuthError, isAuthError } from '../errors.js'
import { errorName } from '../internal/describe.js'
import { type Endpoint, redact } from './endpoint-options.js'
import { parseTokenResponse, readErrorBody, type TokenResponse, toOAuth2Error } from './token-response.js'

// Transient answers: 5xx that a retry can fix, and rate limiting. 501 and 505 are not transient.
const retryStatusCodes = [429, 500, 502, 503, 504]
// A server that says when to come back is believed (RFC 9110 §10.2.3, RFC 6585 §4).
const retryAfterStatusCodes = [429, 503]

/**
 * requestToken posts one grant to the token endpoint and returns the parsed token response.
 *
 * ky retries network errors, 5xx and 429 (waiting for `Retry-After` where given), never other 4xx
 * or redirects, and never a timeout (the server may have acted on a request it was slow to answer, which matters
 * for a rotating refresh token); the provider's backoff handles what remains. Every failure becomes
 * our own error: a ky `HTTPError`, `TimeoutError` or `NetworkError` holds the request, and inspecting
 * it prints the Basic header and the form body, so none is ever kept as a `cause`. `sentSecrets`
 * (a refresh token) are redacted from anything the server says, like the client secret.
 */
export async function requestToken(
  endpoint: Endpoint,
  grant: ReadonlyArray<readonly [string, string]>,
  signal: AbortSignal | undefined,
  sentSecrets: readonly string[] = [],
  hooks: ResponseHooks = {},
): Promise<TokenResponse> {
  const secrets = [...endpoint.secrets, ...sentSecrets]
  let status: number
  let text: string
  let contentType: string | null
  try {
    const pending = ky.post(endpoint.url, {
      body: new URLSearchParams([...grant, ...endpoint.params] as [string, string][]).toString(),
      headers: endpoint.headers,
      ...(signal === undefined ? {} : { signal }),
      // A followed 307 or 308 would post the form (a client secret, a refresh token) to wherever
      // `Location` points. A token endpoint has no business redirecting: report it instead.
      redirect: 'manual',
      timeout: endpoint.timeoutMs,
      throwHttpErrors: true,
      retry: {
        limit: endpoint.retry,
        methods: ['post'],
        statusCodes: retryStatusCodes,
        afterStatusCodes: retryAfterStatusCodes,
        retryOnTimeout: false,
        jitter: true,
        // A `Retry-After: 3600` must not park the grant (and every grant queued behind it) for an
        // hour: waits are bounded by the per-attempt timeout; the provider's backoff does the rest.
        maxRetryAfter: endpoint.timeoutMs,
        backoffLimit: endpoint.timeoutMs,
      },
      ...(endpoint.fetch === undefined ? {} : { fetch: endpoint.fetch }),
    })
    const response = await pending
    status = response.status
    contentType = response.headers.get('content-type')
    // The endpoint's clock, for the provider's estimate of the issuer's (whole seconds, RFC 9110 §6.6.1).
    const date = Date.parse(response.headers.get('date') ?? '')
    if (Number.isFinite(date)) hooks.reportDate?.(date)
    // The shortcut reads the body of the same response, under the same timeout.
    text = await pending.text()
  } catch (error) {
    throw failure(error, endpoint, signal, secrets)
  }
  return parseTokenResponse(text, status, endpoint.label, secrets, contentType, hooks.onRefreshToken)
}

/** ResponseHooks see a token response as it is read. */
export interface ResponseHooks {
  /** Gets the endpoint's `Date` header (epoch ms): a `FetchTokenContext`'s `reportDate`. */
  reportDate?: ((date: number) => void) | undefined
  /** Gets a `refresh_token` in the answer before anything else in it is checked. */
  onRefreshToken?: ((refreshToken: string) => void) | undefined
}

function failure(
  error: unknown,
  endpoint: Endpoint,
  signal: AbortSignal | undefined,
  secrets: readonly string[],
): unknown {
  // The provider aborted (its refresh timeout, or disposal): its reason is the error to report.
  if (signal?.aborted === true) return signal.reason
  const { label } = endpoint
  if (isHTTPError(error)) {
    const { status } = error.response
    if (status < 400) {
      return new AuthError(`${label} answered ${status}, a redirect: set tokenUrl to the final URL`, {
        code: 'ERR_TOKEN_SOURCE',
      })
    }
    const body = readErrorBody(error.data)
    // RFC 6749 §5.2: an error response is a 4xx (400, or 401 for client authentication).
    if (body !== undefined && status < 500) return toOAuth2Error(body, status, label, secrets)
    const hint = body === undefined ? '' : ` (${redact(body.error, secrets)})`
    return new AuthError(`${label} answered ${status}${hint}`, { code: 'ERR_TOKEN_SOURCE' })
  }
  if (isTimeoutError(error)) {
    return new AuthError(`${label} did not answer within ${endpoint.timeoutMs} ms`, { code: 'ERR_TOKEN_SOURCE' })
  }
  if (isNetworkError(error)) {
    return new AuthError(`${label} could not be reached${networkDetail(error.cause)}`, { code: 'ERR_TOKEN_SOURCE' })
  }
  if (isAuthError(error)) return error
  // A custom fetch threw something else: name it, never quote it.
  return new AuthError(`${label} could not be called (${errorName(error)})`, { code: 'ERR_TOKEN_SOURCE' })
}

// Node's "fetch failed" carries the system error code (ECONNREFUSED, ENOTFOUND) one level down.
function networkDetail(cause: unknown): string {
  const code = (cause as { cause?: { code?: unknown } } | undefined)?.cause?.code
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? ` (${code})` : ''
}
