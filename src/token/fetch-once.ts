import { RefreshError } from '../errors.js'
import { describeError } from '../internal/describe.js'
import { keepRefreshToken } from './held.js'
import type { LinkHost } from './link.js'
import type { TokenSet } from './token-set.js'
import type { FetchToken, RefreshReason } from './types.js'

/** What one call of `fetchToken` needs from its provider. */
export type FetchCall = Pick<LinkHost, 'options' | 'clock' | 'observers' | 'held' | 'parse' | 'emit'>

/**
 * fetchOnce gets one token from the source: it calls `fetchToken` (inside the observers' wrappers),
 * learns the issuer's clock from the answer before reading it on that clock, and keeps the current
 * refresh token when a server that does not rotate them omits it.
 */
export async function fetchOnce(
  call: FetchCall,
  reason: RefreshReason,
  signal: AbortSignal,
  current: TokenSet | undefined,
): Promise<TokenSet> {
  const { now, label } = call.options
  const fetchToken = call.options.fetchToken as FetchToken
  const request = async () => {
    const sentAt = now()
    let date: { value: number; at: number } | undefined
    const input = await fetchToken({
      signal,
      reason,
      ...(current === undefined ? {} : { current }),
      report: (error) => {
        const reported = error instanceof Error ? error : new RefreshError(`${label}: ${describeError(error)}`)
        call.emit({ error: reported, attempt: 0, willRetry: false })
      },
      reportDate: (value) => {
        date = { value, at: now() }
      },
    })
    call.clock.learn(date, input, call.held()?.set.accessToken, sentAt, now())
    return call.parse(input)
  }
  const set = await (call.observers()?.refresh(reason, request) ?? request())
  return keepRefreshToken(set, current)
}
