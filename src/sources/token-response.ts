import { AuthError, OAuth2Error } from '../errors.js'
import type { TokenInput } from '../token/token-set.js'
import { redact } from './endpoint-options.js'

/** TokenResponse is a successful token response (RFC 6749 §5.1), validated and renamed. */
export interface TokenResponse {
  accessToken: string
  tokenType?: string
  /** The lifetime in seconds, when the server said. */
  expiresIn?: number
  refreshToken?: string
  scope?: string
}

/** ErrorBody holds the fields of an RFC 6749 §5.2 error response. */
export interface ErrorBody {
  error: string
  errorDescription: string | undefined
}

/**
 * parseTokenResponse validates the body of a 2xx answer. Every problem is a non-terminal
 * `AuthError` (`ERR_TOKEN_SOURCE`) that names the field, never its value; an error response sent
 * with a 2xx status (some servers do) is an `OAuth2Error` like any other.
 */
export function parseTokenResponse(
  text: string,
  status: number,
  label: string,
  secrets: readonly string[],
): TokenResponse {
  const fail = (problem: string) =>
    new AuthError(`${label} answered ${status} ${problem}`, { code: 'ERR_TOKEN_SOURCE' })
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw fail('with a body that is not JSON')
  }
  if (!isRecord(body)) throw fail('with JSON that is not an object')
  const accessToken = body['access_token']
  if (accessToken === undefined || accessToken === null) {
    const error = readErrorBody(body)
    if (error !== undefined) throw toOAuth2Error(error, status, label, secrets)
    throw fail('without an access_token')
  }
  if (typeof accessToken !== 'string' || accessToken === '') throw fail('with an access_token that is not a string')
  const response: TokenResponse = { accessToken }
  for (const [field, key] of [
    ['token_type', 'tokenType'],
    ['refresh_token', 'refreshToken'],
    ['scope', 'scope'],
  ] as const) {
    const value = body[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'string' || (value === '' && field === 'refresh_token')) {
      throw fail(`with a ${field} that is not a string`)
    }
    response[key] = value
  }
  const expiresIn = seconds(body['expires_in'])
  if (expiresIn === false) throw fail('with an expires_in that is not a number of seconds')
  if (expiresIn !== undefined) response.expiresIn = expiresIn
  return response
}

/**
 * readErrorBody finds an RFC 6749 §5.2 error in a response body: a JSON object (or its text, when
 * the server sent the wrong content type) whose `error` is a non-empty string.
 */
export function readErrorBody(data: unknown): ErrorBody | undefined {
  let body = data
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body)
    } catch {
      return undefined
    }
  }
  if (!isRecord(body)) return undefined
  const { error, error_description: description } = body as { error?: unknown; error_description?: unknown }
  if (typeof error !== 'string' || error === '') return undefined
  return { error, errorDescription: typeof description === 'string' ? description : undefined }
}

/**
 * toOAuth2Error turns an error body into an `OAuth2Error` (terminal for `invalid_grant`,
 * `invalid_client`, `unauthorized_client`), with anything secret the server echoed redacted.
 */
export function toOAuth2Error(body: ErrorBody, status: number, label: string, secrets: readonly string[]): OAuth2Error {
  const error = redact(body.error, secrets)
  const description = body.errorDescription === undefined ? undefined : redact(body.errorDescription, secrets)
  const detail = description === undefined || description === '' ? '' : `: ${description}`
  return new OAuth2Error(`${label} answered ${status} ${error}${detail}`, {
    error,
    errorDescription: description,
    status,
  })
}

/**
 * toTokenInput makes the provider's input from a response. Without `expires_in`, the provider's
 * `parseToken` takes the expiry from a JWT's `exp`; an opaque token is then used until a 401.
 */
export function toTokenInput(response: TokenResponse, refreshToken: string | undefined): TokenInput {
  const { accessToken, expiresIn, tokenType, scope } = response
  const known = {
    ...(tokenType === undefined ? {} : { tokenType }),
    ...(scope === undefined ? {} : { scope }),
    ...(refreshToken === undefined ? {} : { refreshToken }),
  }
  return expiresIn === undefined ? { accessToken, ...known } : { accessToken, expiresIn, ...known }
}

// A number, or a string of digits: some servers send `"expires_in": "3600"`. `false` when invalid.
function seconds(value: unknown): number | undefined | false {
  if (value === undefined || value === null) return undefined
  const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value
  return typeof number === 'number' && Number.isFinite(number) && number >= 0 ? number : false
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
