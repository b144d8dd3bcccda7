import { AuthError, OAuth2Error } from '../errors.js'
import { isRecord } from '../internal/guards.js'
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
  /** RFC 8693 §2.2.1: what kind of token a token exchange issued. */
  issuedTokenType?: string
}

/** ErrorBody holds the fields of an RFC 6749 §5.2 error response. */
export interface ErrorBody {
  error: string
  errorDescription: string | undefined
}

/**
 * parseTokenResponse validates the body of a 2xx answer: JSON (any `application/json` or `+json`
 * type, or no type at all) or an `application/x-www-form-urlencoded` form, which some servers send
 * even to `Accept: application/json`. Numbers may come as strings and `token_type` in any case.
 * A rotated `refresh_token` goes to `onRefreshToken` before any other field is checked, so it is
 * recorded even when the rest of the answer is refused. Every problem is a non-terminal `AuthError`
 * (`ERR_TOKEN_SOURCE`) that names the field, never its value; an error response sent with a 2xx
 * status (some servers do) is an `OAuth2Error` like any other.
 */
export function parseTokenResponse(
  text: string,
  status: number,
  label: string,
  secrets: readonly string[],
  contentType: string | null = null,
  onRefreshToken?: (refreshToken: string) => void,
): TokenResponse {
  const fail = (problem: string) =>
    new AuthError(`${label} answered ${status} ${problem}`, { code: 'ERR_TOKEN_SOURCE' })
  const body = readBody(text, contentType)
  if (body === undefined) throw fail('with a body that is neither JSON nor a form')
  if (!isRecord(body)) throw fail('with JSON that is not an object')
  const rawRefreshToken = optionalString(body['refresh_token'])
  // `false` marks a refresh_token that is there but unusable (not a string, or empty).
  const refreshToken = rawRefreshToken === '' ? false : rawRefreshToken
  if (typeof refreshToken === 'string') onRefreshToken?.(refreshToken)
  const raw = body['access_token']
  if (raw === undefined || raw === null) {
    const error = readErrorBody(body)
    if (error !== undefined) throw toOAuth2Error(error, status, label, secrets)
    throw fail('without an access_token')
  }
  const accessToken = typeof raw === 'string' ? raw.trim() : ''
  if (accessToken === '') throw fail('with an access_token that is not a string')
  const response: TokenResponse = { accessToken }
  if (refreshToken === false) throw fail('with a refresh_token that is not a string')
  if (refreshToken !== undefined) response.refreshToken = refreshToken
  for (const [field, key] of [
    ['token_type', 'tokenType'],
    ['scope', 'scope'],
    ['issued_token_type', 'issuedTokenType'],
  ] as const) {
    const value = optionalString(body[field])
    if (value === false) throw fail(`with a ${field} that is not a string`)
    if (value !== undefined) response[key] = value
  }
  const expiresIn = seconds(body['expires_in'])
  if (expiresIn === false) throw fail('with an expires_in that is not a number of seconds')
  if (expiresIn !== undefined) response.expiresIn = expiresIn
  return response
}

/**
 * readErrorBody finds an RFC 6749 §5.2 error in a response body: an object (or the text of JSON or
 * of a form, when the server sent either with the wrong content type) whose `error` is a non-empty string.
 */
export function readErrorBody(data: unknown): ErrorBody | undefined {
  const body = typeof data === 'string' ? readBody(data, null) : data
  if (!isRecord(body)) return undefined
  const { error, error_description: description } = body as { error?: unknown; error_description?: unknown }
  if (typeof error !== 'string' || error === '') return undefined
  return { error, errorDescription: typeof description === 'string' ? description : undefined }
}

// The body as JSON, or as a form: by its content type, else whichever it parses as. A form only
// counts when it names an OAuth2 field, so plain text is not mistaken for one.
function readBody(text: string, contentType: string | null): unknown {
  const type = contentType?.split(';', 1)[0]?.trim().toLowerCase() ?? ''
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text))
  try {
    return JSON.parse(text)
  } catch {
    const form = Object.fromEntries(new URLSearchParams(text.trim()))
    return 'access_token' in form || 'error' in form ? form : undefined
  }
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
  const { accessToken, expiresIn, tokenType, scope, issuedTokenType } = response
  const known = {
    ...(tokenType === undefined ? {} : { tokenType }),
    ...(scope === undefined ? {} : { scope }),
    ...(issuedTokenType === undefined ? {} : { issuedTokenType }),
    ...(refreshToken === undefined ? {} : { refreshToken }),
  }
  return expiresIn === undefined ? { accessToken, ...known } : { accessToken, expiresIn, ...known }
}

// A number, or a string of one (`"expires_in": "3600"`, and every value of a form). 0 or less means
// "unknown" (some servers mean "never"): the JWT `exp`, if any, decides. `false` when invalid.
function seconds(value: unknown): number | undefined | false {
  if (value === undefined || value === null) return undefined
  const number = typeof value === 'string' && /^[+-]?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value
  if (typeof number !== 'number' || !Number.isFinite(number)) return false
  return number > 0 ? number : undefined
}

// A string (trimmed), `undefined` when absent, `false` when of another type.
function optionalString(value: unknown): string | undefined | false {
  if (value === undefined || value === null) return undefined
  return typeof value === 'string' ? value.trim() : false
}
