/**
 * The error hierarchy. Every error we throw is an `AuthError` with a stable `code`; recognise
 * them with {@link isAuthError}, which also works for errors made by another copy of the
 * library loaded in the same process (where `instanceof` would fail).
 *
 * Messages say what failed and for which provider, scope or URL — never a token or a secret.
 */

const brand = Symbol.for('refreshing-client.error.v1')

/**
 * AuthErrorCode is every `code` an error of this library can carry.
 *
 * @example
 * ```ts
 * const pageOn: ReadonlySet<AuthErrorCode> = new Set(['ERR_OAUTH2', 'ERR_CLAIMS_MISMATCH'])
 * if (isAuthError(error) && pageOn.has(error.code as AuthErrorCode)) pager.notify(error.message)
 * ```
 */
export type AuthErrorCode =
  | 'ERR_AUTH'
  | 'ERR_TOKEN_DECODE'
  | 'ERR_CLAIMS_MISMATCH'
  | 'ERR_REFRESH'
  | 'ERR_REFRESH_TIMEOUT'
  | 'ERR_NO_TOKEN'
  | 'ERR_OAUTH2'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_DISPOSED'
  | 'ERR_CROSS_ORIGIN'
  | 'ERR_TOKEN_SOURCE'
  | 'ERR_DISCOVERY'
  | 'ERR_STORE'
  | 'ERR_STORE_UNREADABLE'
  | 'ERR_PUSH_REFUSED'
  | 'ERR_HEARTBEAT_TIMEOUT'

/**
 * AuthErrorOptions are the options of every error constructor.
 *
 * @example
 * ```ts
 * // in a fetchToken: a revoked agent cannot get a token by retrying, so the provider stops (state 'failed')
 * throw new AuthError('agent-7 was revoked by the control plane', { code: 'ERR_TOKEN_SOURCE', terminal: true })
 * ```
 */
export interface AuthErrorOptions {
  /** A stable, machine-readable code. */
  code?: AuthErrorCode | (string & {})
  /** The underlying error, if any. */
  cause?: unknown
  /** `true` when retrying cannot help (revoked credentials, a misconfigured client). */
  terminal?: boolean
}

/**
 * AuthError is the base class of every error this library throws.
 *
 * @example
 * ```ts
 * try {
 *   await provider.getToken()
 * } catch (error) {
 *   if (isAuthError(error, 'ERR_REFRESH')) console.warn(error.message, error.cause)
 * }
 * ```
 */
export class AuthError extends Error {
  /** `'AuthError'`, also across copies of the library. */
  override name = 'AuthError'
  /** A stable, machine-readable code such as `ERR_REFRESH`. */
  readonly code: string
  /** `true` when retrying cannot help: a provider stops refreshing after a terminal error. */
  readonly terminal: boolean

  constructor(message: string, options: AuthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = options.code ?? 'ERR_AUTH'
    this.terminal = options.terminal ?? false
    Object.defineProperty(this, brand, { value: true })
  }
}

/**
 * TokenDecodeError is thrown by `parseToken` (and everything that parses tokens) for input that is
 * not a usable token. The message names the problem, never the token.
 *
 * @example
 * ```ts
 * try {
 *   parseToken('header.%%%.signature')
 * } catch (error) {
 *   if (error instanceof TokenDecodeError) console.error(error.message) // malformed JWT: the payload is not valid base64url
 * }
 * ```
 */
export class TokenDecodeError extends AuthError {
  /** `'TokenDecodeError'`, also across copies of the library. */
  override name = 'TokenDecodeError'
  constructor(message: string, options: Omit<AuthErrorOptions, 'code'> = {}) {
    super(message, { ...options, code: 'ERR_TOKEN_DECODE' })
  }
}

/**
 * RefreshError is what callers get when no valid token can be had: the refresh failed and the
 * token has expired (`ERR_REFRESH`, with the failure as `cause`), it timed out
 * (`ERR_REFRESH_TIMEOUT`), or a push-only provider has no token (`ERR_NO_TOKEN`).
 *
 * @example
 * ```ts
 * const session = createTokenProvider({ name: 'session-42' }) // push-only, nothing pushed yet
 * await session.getToken().catch((error: RefreshError) => console.log(error.code)) // 'ERR_NO_TOKEN', at once
 * ```
 */
export class RefreshError extends AuthError {
  /** `'RefreshError'`, also across copies of the library. */
  override name = 'RefreshError'
  constructor(message: string, options: AuthErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? 'ERR_REFRESH' })
  }
}

/** The RFC 6749 §5.2 error codes after which retrying the same grant cannot succeed. */
export const terminalOAuth2Errors: ReadonlySet<string> = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
])

/**
 * OAuth2Error is an RFC 6749 §5.2 error response from a token endpoint. `invalid_grant`,
 * `invalid_client` and `unauthorized_client` are terminal, unless the source that got the answer
 * knows better and says so with `terminal` (a token exchange whose subject token had expired).
 *
 * @example
 * ```ts
 * tokens.on('error', ({ error }) => {
 *   // a failed refresh is a RefreshError; what the token endpoint said is its cause
 *   if (error.cause instanceof OAuth2Error && error.cause.terminal) {
 *     console.error(`sign in again: ${error.cause.error} (${error.cause.status})`) // e.g. invalid_grant (400)
 *   }
 * })
 * ```
 */
export class OAuth2Error extends AuthError {
  /** `'OAuth2Error'`, also across copies of the library. */
  override name = 'OAuth2Error'
  /** The `error` field of the response, such as `invalid_grant`. */
  readonly error: string
  /** The `error_description` field, when the server sent one. */
  readonly errorDescription: string | undefined
  /** The HTTP status of the response. */
  readonly status: number

  constructor(
    message: string,
    fields: { error: string; errorDescription?: string | undefined; status: number },
    options: Omit<AuthErrorOptions, 'code'> = {},
  ) {
    super(message, {
      ...options,
      code: 'ERR_OAUTH2',
      terminal: options.terminal ?? terminalOAuth2Errors.has(fields.error),
    })
    this.error = fields.error
    this.errorDescription = fields.errorDescription
    this.status = fields.status
  }
}

/**
 * UnauthorizedError reports a request that was still rejected after the one retry with a fresh
 * token. Heartbeats report it; `client.fetch` never throws it (it returns the response).
 *
 * @example
 * ```ts
 * heartbeat.on('failure', ({ error }) => {
 *   if (error instanceof UnauthorizedError) console.error(`${error.url} refused a fresh token (${error.status})`)
 * })
 * ```
 */
export class UnauthorizedError extends AuthError {
  /** `'UnauthorizedError'`, also across copies of the library. */
  override name = 'UnauthorizedError'
  /** The final HTTP status (401 unless `retryOnStatus` says otherwise). */
  readonly status: number
  /** The request URL, without its query string. */
  readonly url: string

  constructor(message: string, fields: { status: number; url: string }) {
    super(message, { code: 'ERR_UNAUTHORIZED' })
    this.status = fields.status
    this.url = fields.url
  }
}

/**
 * DisposedError is thrown or rejected by any call on an object after its `dispose()`.
 *
 * @example
 * ```ts
 * scope.dispose()
 * scope.client({ baseUrl: 'https://town.example.com/' }) // throws DisposedError: scope "agent-7" has been disposed
 * ```
 */
export class DisposedError extends AuthError {
  /** `'DisposedError'`, also across copies of the library. */
  override name = 'DisposedError'
  constructor(what: string) {
    super(`${what} has been disposed`, { code: 'ERR_DISPOSED' })
  }
}

/**
 * CrossOriginError refuses a request to an origin that may not receive the token (neither
 * `baseUrl`'s origin nor one of `allowedOrigins`). No network I/O happens.
 *
 * @example
 * ```ts
 * const client = new RefreshingClient({ tokens, baseUrl: 'https://town.example.com/' })
 * await client.fetch('https://tracker.example.net/collect').catch((error: CrossOriginError) => {
 *   console.error(error.origin) // 'https://tracker.example.net': nothing was sent
 * })
 * ```
 */
export class CrossOriginError extends AuthError {
  /** `'CrossOriginError'`, also across copies of the library. */
  override name = 'CrossOriginError'
  /** The origin that was refused. */
  readonly origin: string

  constructor(origin: string) {
    super(`refusing to send the token to ${origin}: not the client's baseUrl origin or in allowedOrigins`, {
      code: 'ERR_CROSS_ORIGIN',
    })
    this.origin = origin
  }
}

/**
 * isAuthError tells whether `value` is an error of this library (of any copy of it in the
 * process), optionally with a given `code`.
 *
 * @example
 * ```ts
 * if (isAuthError(error, 'ERR_DISPOSED')) return
 * ```
 */
export function isAuthError(value: unknown, code?: AuthErrorCode | (string & {})): value is AuthError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true &&
    (code === undefined || (value as AuthError).code === code)
  )
}
