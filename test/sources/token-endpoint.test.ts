import { describe, expect, it } from 'vitest'
import {
  AuthError,
  clientCredentials,
  type FetchTokenContext,
  isAuthError,
  refreshTokenGrant,
} from '../../src/index.js'

// The network is replaced by an injected `fetch` here, for failures a real server cannot produce.
const tokenUrl = 'http://127.0.0.1:9/oauth2/token'
const label = `clientCredentials: token endpoint ${tokenUrl}`

function context(reports: unknown[] = []): FetchTokenContext {
  return { signal: new AbortController().signal, reason: 'manual', report: (error) => reports.push(error) }
}

function failing(thrown: unknown) {
  return clientCredentials({
    tokenUrl,
    clientId: 'svc',
    clientSecret: 'secret',
    retry: 0,
    fetch: async () => {
      throw thrown
    },
  })
}

const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })

describe('the token endpoint call', () => {
  it('names, and never quotes, what a custom fetch throws', async () => {
    const error = await failing(new RangeError('quoting secret'))(context()).catch((error: unknown) => error)
    expect(isAuthError(error, 'ERR_TOKEN_SOURCE')).toBe(true)
    expect((error as Error).message).toBe(`${label} could not be called (RangeError)`)
    await expect(failing('secret')(context())).rejects.toThrow(`${label} could not be called (string)`)
    const own = new AuthError('from a wrapper', { code: 'ERR_CUSTOM' })
    await expect(failing(own)(context())).rejects.toBe(own)
  })

  it('reports a network error without a system error code plainly', async () => {
    const error = await failing(new TypeError('fetch failed'))(context()).catch((error: unknown) => error)
    expect(isAuthError(error, 'ERR_TOKEN_SOURCE')).toBe(true)
    expect((error as Error).message).toBe(`${label} could not be reached`)
  })

  it('forgets spent refresh tokens beyond the 64 most recent', async () => {
    const sent: (string | null)[] = []
    let issued = 0
    const fetchToken = refreshTokenGrant({
      tokenUrl,
      clientId: 'app',
      refreshToken: 'rt-0',
      fetch: async (input) => {
        sent.push(new URLSearchParams(await (input as Request).text()).get('refresh_token'))
        return json({ access_token: 'opaque', refresh_token: `rt-${++issued}` })
      },
    })
    const holding = (refreshToken: string) => fetchToken({ ...context(), current: { accessToken: 'x', refreshToken } })
    // Spends rt-0 .. rt-64: rt-0, the oldest of 65, is forgotten.
    for (let i = 0; i < 65; i++) await fetchToken(context())
    await holding('rt-1')
    await holding('rt-0')
    expect(sent.slice(65)).toEqual(['rt-65', 'rt-0'])
  })

  it('names a non-Error thrown by onRotate', async () => {
    const reports: unknown[] = []
    const fetchToken = refreshTokenGrant({
      tokenUrl,
      clientId: 'app',
      refreshToken: 'rt-1',
      fetch: async () => json({ access_token: 'opaque', refresh_token: 'rt-2' }),
      onRotate: () => {
        throw 'rt-2'
      },
    })
    expect(await fetchToken(context(reports))).toEqual({ accessToken: 'opaque', refreshToken: 'rt-2' })
    expect(reports).toHaveLength(1)
    expect((reports[0] as Error).message).toBe(
      'refreshTokenGrant: onRotate failed (string); the rotated refresh token is kept in memory only',
    )
  })

  it('refuses an empty rotated refresh token', async () => {
    const fetchToken = refreshTokenGrant({
      tokenUrl,
      clientId: 'app',
      refreshToken: 'rt-1',
      fetch: async () => json({ access_token: 'opaque', refresh_token: '' }),
    })
    await expect(fetchToken(context())).rejects.toThrow('answered 200 with a refresh_token that is not a string')
  })
})
