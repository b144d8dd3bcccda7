import { bindSource } from '../dpop/signer.js'
import { AuthError } from '../errors.js'
import { errorName } from '../internal/describe.js'
import { withSignal } from '../internal/signal.js'
import { spendsRefreshToken } from '../token/store-call.js'
import type { TokenInput } from '../token/token-set.js'
import type { FetchToken, FetchTokenContext } from '../token/types.js'
import { type ClientAuthOptions, formEncode } from './client-auth.js'
import type { TokenEndpointOptions } from './endpoint-options.js'
import { resolveEndpoint } from './endpoint-resolver.js'
import { requestToken } from './token-endpoint.js'
import { type TokenResponse, toTokenInput } from './token-response.js'

/**
 * RefreshTokenGrantOptions are the options of {@link refreshTokenGrant}.
 *
 * @example
 * ```ts
 * const options: RefreshTokenGrantOptions = {
 *   tokenUrl: 'https://auth.example.com/oauth2/token',
 *   clientId: 'desktop-app',
 *   refreshToken: stored.refreshToken,
 *   onRotate: (refreshToken) => store.save({ refreshToken }),
 * }
 * ```
 */
export interface RefreshTokenGrantOptions extends TokenEndpointOptions, ClientAuthOptions {
  /** The refresh token to start with. It never appears in an error, an event or an inspected object. */
  refreshToken: string
  /** Narrows the scope of the new access token (RFC 6749 §6), space-separated. */
  scope?: string | undefined
  /**
   * Called with each new refresh token the server rotates in, and awaited before the new access
   * token is used and before the next refresh: persist it here. If it throws, the provider emits an
   * `error` event and the rotated token is still used, from memory.
   */
  onRotate?: ((refreshToken: string) => void | Promise<void>) | undefined
}

const source = 'refreshTokenGrant'
// Enough for any realistic number of stale holders; bounded, so a process that runs for years
// does not grow by one token per refresh.
const spentLimit = 64
const noop = () => {}

/**
 * refreshTokenGrant is a {@link FetchToken} for the OAuth2 refresh token grant (RFC 6749 §6).
 *
 * It sends the provider's current refresh token (the latest rotated one, perhaps from a store or a
 * push) or else the configured one. Rotation is handled for you: the new refresh token goes to
 * `onRotate` before it is used, a token that was rotated away is never sent again (the latest is
 * sent instead, so providers sharing one source or holding a stale token stay safe), and grants run
 * one at a time, so two refreshes never spend the same token. Options are checked at once.
 *
 * @example
 * ```ts
 * const tokens = createTokenProvider({
 *   name: 'mail-agent',
 *   fetchToken: refreshTokenGrant({
 *     tokenUrl: 'https://auth.example.com/oauth2/token',
 *     clientId: 'mail-agent',
 *     refreshToken: await vault.read('mail-agent/refresh-token'),
 *     onRotate: (refreshToken) => vault.write('mail-agent/refresh-token', refreshToken),
 *   }),
 * })
 * ```
 */
export function refreshTokenGrant(options: RefreshTokenGrantOptions): FetchToken {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${source}: options must be an object`)
  const { refreshToken, scope, onRotate } = options
  if (typeof refreshToken !== 'string' || refreshToken.trim() === '') {
    throw new TypeError(`${source}: refreshToken must be a non-empty string`)
  }
  if (scope !== undefined && typeof scope !== 'string') throw new TypeError(`${source}: scope must be a string`)
  if (onRotate !== undefined && typeof onRotate !== 'function') {
    throw new TypeError(`${source}: onRotate must be a function`)
  }
  const endpoints = resolveEndpoint(source, options, {
    auth: options,
    reserved: ['grant_type', 'refresh_token', 'scope'],
  })
  // Trimmed like every token that enters: a refresh token read from a file or the environment may end in a newline.
  const ledger = new RefreshTokens(refreshToken.trim())

  // A grant that reached the server runs to its end even when the provider gives up on it (its
  // refresh timeout, or disposal): a rotating server has already spent the refresh token, so the
  // rotated one must be recorded and handed to onRotate, or it is lost and the next grant fails
  // with invalid_grant. Only the caller's wait is cut short; the endpoint's timeout bounds the grant.
  const grant = async ({ current, report, reportDate }: FetchTokenContext): Promise<TokenInput> => {
    const endpoint = await endpoints.endpoint(undefined)
    const sent = ledger.pick(current?.refreshToken)
    const params: (readonly [string, string])[] = [
      ['grant_type', 'refresh_token'],
      ['refresh_token', sent],
    ]
    if (scope !== undefined) params.push(['scope', scope])
    let rotated: string | undefined
    // Recorded the moment it is read, before the rest of the answer is checked and before onRotate
    // runs: whatever fails after, the rotated token is the one we send next.
    const onRefreshToken = (refreshToken: string) => {
      if (refreshToken === sent) return
      rotated = refreshToken
      ledger.settle(sent, refreshToken)
    }
    let response: TokenResponse
    try {
      response = await requestToken(endpoint, params, undefined, [sent, formEncode(sent)], {
        reportDate,
        onRefreshToken,
      })
    } finally {
      if (rotated !== undefined && onRotate !== undefined) {
        const latest = rotated
        await Promise.resolve()
          .then(() => onRotate(latest))
          .then(noop, (error: unknown) => report(rotateFailed(error)))
      }
    }
    if (rotated === undefined) ledger.settle(sent, undefined)
    return toTokenInput(response, rotated ?? sent)
  }

  let queue: Promise<void> = Promise.resolve()
  const fetchToken: FetchToken = (context) => {
    // One grant at a time: a rotating server treats a second use of a refresh token as a replay
    // (and may revoke the whole token family), so the next grant starts after the last one settled.
    const run = queue.then(() => {
      // A refresh aborted while it waited its turn never reaches the server.
      context.signal.throwIfAborted()
      return grant(context)
    })
    queue = run.then(noop, noop)
    return withSignal(run, context.signal)
  }
  // It sends its configured refresh token before the provider holds one: with a store, even a
  // first refresh runs under the lease.
  Object.defineProperty(fetchToken, spendsRefreshToken, { value: true })
  // A DPoP-bound token is shared through a store only with processes holding the same key.
  return bindSource(fetchToken, options.dpop)
}

/** RefreshTokens are the refresh tokens a source has seen: the latest, and those rotated away. */
class RefreshTokens {
  #latest: string
  readonly #spent = new Set<string>()

  constructor(initial: string) {
    this.#latest = initial
  }

  /** The token to send for a caller holding `held`: its own, unless that one has been spent. */
  pick(held: string | undefined): string {
    return held === undefined || this.#spent.has(held) ? this.#latest : held
  }

  /** Records a successful grant that sent `sent` and got `rotated` back, if the server rotated. */
  settle(sent: string, rotated: string | undefined): void {
    if (rotated === undefined) {
      this.#latest = sent
      return
    }
    this.#spent.add(sent)
    if (this.#spent.size > spentLimit) this.#spent.delete(this.#spent.values().next().value as string)
    this.#latest = rotated
  }
}

// The thrown error may quote the token it failed to store: keep only its name.
function rotateFailed(error: unknown): AuthError {
  return new AuthError(
    `${source}: onRotate failed (${errorName(error)}); the rotated refresh token is kept in memory only`,
    {
      code: 'ERR_TOKEN_SOURCE',
    },
  )
}
