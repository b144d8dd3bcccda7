import { AuthError, isAuthError } from '../errors.js'
import { describeError } from '../internal/describe.js'
import { withSignal } from '../internal/signal.js'
import { isTokenProvider } from '../token/shape.js'
import { decodeClaims } from '../token/token-set.js'
import type { TokenProvider } from '../token/types.js'

/**
 * SubjectToken is where a grant gets the token it presents (a token exchange's `subject_token` or
 * `actor_token`, a JWT-bearer `assertion`): a {@link TokenProvider}, asked with `getToken()` for
 * every exchange, or an async function, called for every exchange. Either way the token presented
 * is never one kept from an earlier exchange, so a chain (a rotated token file, then an exchange,
 * then an API token) never presents an expired subject.
 *
 * @example
 * ```ts
 * import { fileToken, githubActionsOidc } from 'refreshing-client/node'
 *
 * // a Kubernetes projected service account token, re-read when the kubelet rotates it
 * const kubernetes: SubjectToken = createTokenProvider({
 *   fetchToken: fileToken('/var/run/secrets/tokens/exchange-token', { watch: true }),
 * })
 * // a GitHub Actions OIDC token (it lives about five minutes)
 * const ci: SubjectToken = createTokenProvider({ fetchToken: githubActionsOidc({ audience: 'https://auth.example.com' }) })
 * // anything else
 * const custom: SubjectToken = async () => (await readFile('/run/agent/identity.jwt', 'utf8')).trim()
 * ```
 */
export type SubjectToken = TokenProvider | (() => Promise<string>)

/** Presented is one token a grant sends, read fresh for one request. */
export interface Presented {
  /** The option it came from (`subjectToken`, `actorToken`, `assertion`), for messages. */
  readonly name: string
  readonly value: string
  /** Its JWT `exp` in epoch ms, or `undefined` for an opaque token (or one that does not decode). */
  readonly expiresAt: number | undefined
  /** The provider it came from, which is told when the server refuses it. */
  readonly provider: TokenProvider | undefined
}

/** checkSubject checks a {@link SubjectToken} option at construction, with a `TypeError` naming it. */
export function checkSubject(source: string, name: string, value: unknown): SubjectToken {
  if (typeof value === 'function' || isTokenProvider(value)) return value as SubjectToken
  throw new TypeError(`${source}: ${name} must be a TokenProvider or an async function that returns a token`)
}

/**
 * readSubject gets one fresh token from `subject` (trimmed, like every token that enters). A
 * failure is a non-terminal `AuthError` naming the option, terminal only when the subject's own
 * failure is (its provider has given up, or was disposed): retrying the exchange cannot help then.
 * The message never quotes what a foreign function threw.
 */
export async function readSubject(
  source: string,
  name: string,
  subject: SubjectToken,
  signal: AbortSignal,
  forceRefresh = false,
): Promise<Presented> {
  const provider = isTokenProvider(subject) ? subject : undefined
  let value: unknown
  try {
    value = await (provider !== undefined
      ? provider.getToken({ signal, ...(forceRefresh ? { forceRefresh } : {}) })
      : withSignal(Promise.resolve().then(subject as () => Promise<string>), signal))
  } catch (error) {
    if (signal.aborted) throw signal.reason
    const own = isAuthError(error)
    throw new AuthError(`${source}: the ${name} could not be had: ${describeError(error)}`, {
      code: 'ERR_TOKEN_SOURCE',
      ...(own ? { cause: error } : {}),
      terminal: own && (error.terminal || error.code === 'ERR_DISPOSED'),
    })
  }
  const token = typeof value === 'string' ? value.trim() : ''
  if (token === '') {
    const got = typeof value === 'string' ? 'an empty string' : `a ${value === null ? 'null' : typeof value}`
    throw new AuthError(`${source}: the ${name} gave ${got}, not a token`, { code: 'ERR_TOKEN_SOURCE' })
  }
  return { name, value: token, expiresAt: expiryOf(token), provider }
}

// The `exp` of a JWT, decoded and never verified (the server verifies it); `undefined` for an
// opaque token, or a JWT-shaped one that does not decode: whether it is still valid is unknown.
function expiryOf(token: string): number | undefined {
  try {
    const exp = decodeClaims(token)?.exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}
