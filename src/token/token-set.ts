import { decodeJwt, type JWTPayload } from 'jose'
import { AuthError, TokenDecodeError } from '../errors.js'

/**
 * TokenSet is an access token plus what we know about it. Times are epoch milliseconds on the
 * issuer's clock: a provider converts a relative `expiresIn` with its estimate of that clock
 * (see the `token` event's `clockOffsetMs`). It is the one object of this library that holds a
 * token: do not log it.
 *
 * @example
 * ```ts
 * const set: TokenSet = await tokens.getTokenSet()
 * const secondsLeft = set.expiresAt === undefined ? Infinity : Math.floor((set.expiresAt - Date.now()) / 1000)
 * ```
 */
export interface TokenSet {
  /** The access token itself. */
  accessToken: string
  /** When it expires (epoch ms); `undefined` when unknown: then it is used until a 401. */
  expiresAt?: number
  /** When it was issued (epoch ms), from the JWT `iat` or the time it was received. */
  issuedAt?: number
  /** A refresh token that came with it, if any. */
  refreshToken?: string
  /** The token type, such as `Bearer`. */
  tokenType?: string
  /** The granted scope, space-separated. */
  scope?: string
  /**
   * What kind of token a token exchange issued (RFC 8693 §2.2.1 `issued_token_type`), such as
   * `urn:ietf:params:oauth:token-type:access_token`.
   */
  issuedTokenType?: string
}

/**
 * TokenInput is anything that can become a {@link TokenSet}: a JWT or opaque string, a
 * `TokenSet`, or an OAuth2-style `{accessToken, expiresIn}` with the lifetime in seconds.
 *
 * @example
 * ```ts
 * tokens.setToken(jwt) // expiry and issue time from its exp and iat claims
 * tokens.setToken({ accessToken: 'opaque-token', expiresIn: 3600 }) // seconds, as in an OAuth2 response
 * tokens.setToken({ accessToken: 'opaque-token', expiresAt: Date.parse('2026-12-01T00:00:00Z') })
 * ```
 */
export type TokenInput =
  | string
  | TokenSet
  | {
      /** The access token. */
      accessToken: string
      /** Its lifetime in seconds from now, as in an OAuth2 token response. */
      expiresIn: number
      /** A refresh token that came with it. */
      refreshToken?: string
      /** The token type, such as `Bearer`. */
      tokenType?: string
      /** The granted scope, space-separated. */
      scope?: string
      /** What kind of token a token exchange issued (RFC 8693 `issued_token_type`). */
      issuedTokenType?: string
    }

/**
 * ParseTokenOptions are the options of {@link parseToken}.
 *
 * @example
 * ```ts
 * parseToken({ accessToken: 'opaque-token', expiresIn: 60 }, { now: 1_800_000_000_000 })
 * // { accessToken: 'opaque-token', issuedAt: 1_800_000_000_000, expiresAt: 1_800_000_060_000 }
 * ```
 */
export interface ParseTokenOptions {
  /** The current time in epoch ms, the base of `expiresIn`. @default Date.now() */
  now?: number | undefined
}

const secondsClaims = ['exp', 'iat', 'nbf'] as const
// Characters a header value cannot carry, and whitespace that `Headers` would silently trim.
const unsafeCharacters = /[\s\u0000-\u001f\u007f]/

/**
 * parseToken turns a {@link TokenInput} into a {@link TokenSet}. A string of three dot-separated
 * segments is a JWT, decoded (never verified) with jose's `decodeJwt` for its `exp` and `iat`;
 * any other non-empty string is an opaque token with unknown expiry. Leading and trailing
 * whitespace (a newline from a file or an environment variable) is trimmed from the token and the
 * refresh token. `expiresIn` counts seconds from `now`; 0 or less means "unknown". When a JWT also
 * has an `exp`, the earlier of the two expiries wins. Throws a {@link TokenDecodeError} naming the
 * problem (whitespace inside the token, a non-numeric `expiresIn`, claims that are not finite
 * numbers) — never quoting the token.
 *
 * @example
 * ```ts
 * parseToken(process.env.AGENT_TOKEN!)             // { accessToken, expiresAt, issuedAt }
 * parseToken({ accessToken: 'opaque', expiresIn: 3600 })
 * parseToken({ accessToken: jwt, expiresIn: 0 })   // "unknown": the JWT's exp decides
 * ```
 */
export function parseToken(input: TokenInput, options: ParseTokenOptions = {}): TokenSet {
  const now = options.now ?? Date.now()
  if (typeof input === 'string') return fromString(input.trim())
  if (typeof input !== 'object' || input === null) {
    throw new TokenDecodeError(`expected a token string or object, got ${input === null ? 'null' : typeof input}`)
  }
  const record = input as Record<string, unknown>
  const raw = record['accessToken']
  if (typeof raw !== 'string') throw new TokenDecodeError('"accessToken" must be a string')
  const accessToken = raw.trim()
  checkAccessToken(accessToken)
  const set: TokenSet = { accessToken }
  copyString(record, set, 'refreshToken')
  copyString(record, set, 'tokenType')
  copyString(record, set, 'scope')
  copyString(record, set, 'issuedTokenType')

  const relative = relativeExpiry(record['expiresIn'], now)
  let expiresAt = optionalTime(record, 'expiresAt')
  let issuedAt = optionalTime(record, 'issuedAt')
  if (expiresAt === undefined && issuedAt === undefined && isJwtShaped(accessToken)) {
    // A JWT with no stated times: its claims are the best we know.
    ;({ expiresAt, issuedAt } = fromString(accessToken))
  }
  if (relative !== undefined) {
    // Two expiries (an `expires_in` and a JWT `exp`): the earlier wins. Both are on the clock of
    // `now`, which the provider sets to its estimate of the issuer's.
    if (expiresAt === undefined || relative < expiresAt) expiresAt = relative
    if (issuedAt === undefined || issuedAt >= expiresAt) issuedAt = Math.min(now, expiresAt - 1)
  }
  if (expiresAt !== undefined) set.expiresAt = expiresAt
  if (issuedAt !== undefined) set.issuedAt = issuedAt
  if (expiresAt !== undefined && issuedAt !== undefined && expiresAt <= issuedAt) {
    throw new TokenDecodeError('"expiresAt" is not after "issuedAt"')
  }
  return set
}

// `expiresIn` (seconds from `now`) as an epoch time; 0 or less means unknown, as some servers send
// `expires_in: 0` for "never": the JWT `exp` then decides, and an opaque token is used until a 401.
function relativeExpiry(expiresIn: unknown, now: number): number | undefined {
  if (expiresIn === undefined) return undefined
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn)) {
    throw new TokenDecodeError('"expiresIn" must be a finite number of seconds')
  }
  if (expiresIn <= 0) return undefined
  const at = now + expiresIn * 1000
  if (!Number.isFinite(at)) throw new TokenDecodeError('"expiresIn" is out of range')
  return at
}

/**
 * decodeClaims returns the (unverified) claims of a JWT, or `undefined` for an opaque token.
 */
export function decodeClaims(accessToken: string): JWTPayload | undefined {
  return isJwtShaped(accessToken) ? decodeJwt(accessToken) : undefined
}

/**
 * checkClaims throws an `AuthError` (`ERR_CLAIMS_MISMATCH`) unless the token's claims equal
 * every entry of `expected`. An opaque token cannot be checked and is refused.
 */
export function checkClaims(set: TokenSet, expected: Readonly<Record<string, unknown>>, name: string): void {
  const claims = decodeClaims(set.accessToken)
  if (claims === undefined) {
    throw new AuthError(`${name}: the token is not a JWT, so expectedClaims cannot be checked`, {
      code: 'ERR_CLAIMS_MISMATCH',
    })
  }
  for (const [claim, value] of Object.entries(expected)) {
    if (!sameValue(claims[claim], value)) {
      throw new AuthError(`${name}: the token's "${claim}" claim does not match expectedClaims`, {
        code: 'ERR_CLAIMS_MISMATCH',
      })
    }
  }
}

/**
 * isNewer tells whether `next` should replace `current`: a later `expiresAt`, or the same
 * `expiresAt` and a later `issuedAt`; with unknown expiry on either side, a different token.
 * An identical token is never newer. With `tieWins` (a push: the control plane's latest word), a
 * different token with the same `expiresAt` and `issuedAt` wins too; store reads keep ties, so
 * processes never flap between two equally new tokens.
 */
export function isNewer(next: TokenSet, current: TokenSet, tieWins = false): boolean {
  if (next.accessToken === current.accessToken) return false
  if (next.expiresAt === undefined || current.expiresAt === undefined) return true
  if (next.expiresAt !== current.expiresAt) return next.expiresAt > current.expiresAt
  const nextIssued = next.issuedAt ?? Number.NEGATIVE_INFINITY
  const currentIssued = current.issuedAt ?? Number.NEGATIVE_INFINITY
  return nextIssued > currentIssued || (tieWins && nextIssued === currentIssued)
}

function isJwtShaped(token: string): boolean {
  const first = token.indexOf('.')
  if (first < 0) return false
  const second = token.indexOf('.', first + 1)
  return second >= 0 && token.indexOf('.', second + 1) < 0
}

function fromString(token: string): TokenSet {
  checkAccessToken(token)
  if (!isJwtShaped(token)) return { accessToken: token }
  let claims: JWTPayload
  try {
    claims = decodeJwt(token)
  } catch (cause) {
    throw new TokenDecodeError(`malformed JWT: ${describeJoseFailure(cause)}`, { cause: safeCause(cause) })
  }
  for (const claim of secondsClaims) {
    const value = claims[claim]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new TokenDecodeError(`malformed JWT: the "${claim}" claim is not a finite number`)
    }
    // Seconds become milliseconds: a claim beyond about 1.8e305 s would be an Infinity expiry.
    if (value !== undefined && !Number.isFinite(value * 1000)) {
      throw new TokenDecodeError(`malformed JWT: the "${claim}" claim is out of range`)
    }
  }
  const set: TokenSet = { accessToken: token }
  if (claims.exp !== undefined) set.expiresAt = claims.exp * 1000
  if (claims.iat !== undefined) set.issuedAt = claims.iat * 1000
  if (claims.exp !== undefined && claims.iat !== undefined && claims.exp <= claims.iat) {
    throw new TokenDecodeError('malformed JWT: it expires ("exp") at or before it was issued ("iat")')
  }
  if (claims.exp !== undefined && claims.nbf !== undefined && claims.exp <= claims.nbf) {
    throw new TokenDecodeError('malformed JWT: it expires ("exp") at or before it becomes valid ("nbf")')
  }
  return set
}

function checkAccessToken(token: string): void {
  if (token.length === 0) throw new TokenDecodeError('the token is empty')
  if (unsafeCharacters.test(token)) {
    throw new TokenDecodeError('the token contains whitespace or control characters')
  }
}

const joseFailures: ReadonlyArray<readonly [string, string]> = [
  ['must contain a payload', 'the payload segment is empty'],
  ['base64url decode', 'the payload is not valid base64url'],
  ['parse the decoded payload as JSON', 'the payload is not JSON'],
  ['Invalid JWT Claims Set', 'the payload is not a JSON object'],
]

// jose's messages never contain the token; we map them to our own wording.
function describeJoseFailure(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : ''
  for (const [needle, description] of joseFailures) if (message.includes(needle)) return description
  return 'it could not be decoded'
}

// The cause chain of a decoding failure may quote bytes of the input: keep only its message.
function safeCause(cause: unknown): Error | undefined {
  return cause instanceof Error ? new Error(cause.message) : undefined
}

function copyString(
  from: Record<string, unknown>,
  to: TokenSet,
  key: 'refreshToken' | 'tokenType' | 'scope' | 'issuedTokenType',
): void {
  const value = from[key]
  if (value === undefined) return
  if (typeof value !== 'string') throw new TokenDecodeError(`"${key}" must be a string`)
  // A refresh token is a credential like the access token: stray whitespace around it is trimmed too.
  to[key] = key === 'refreshToken' ? value.trim() : value
}

function optionalTime(from: Record<string, unknown>, key: 'expiresAt' | 'issuedAt'): number | undefined {
  const value = from[key]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TokenDecodeError(`"${key}" must be a finite number of epoch milliseconds`)
  }
  return value
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  if (keysA.length !== keysB.length) return false
  return keysA.every((key) => sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
}
