import { decodeJwt } from 'jose'
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import {
  createTokenProvider,
  type FetchToken,
  type FetchTokenContext,
  isAuthError,
  OAuth2Error,
  refreshTokenGrant,
  type TokenProvider,
} from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { record } from '../helpers/record.js'
import { type Handler, type Hit, startTokenServer, type TokenServer } from '../helpers/token-server.js'

let server: TokenServer

// A token server for each test, closed when it finishes.
beforeEach(async () => {
  server = await startTokenServer()
})

/**
 * A rotating authorization server with reuse detection: each refresh token works once and is
 * replaced by the next (`rt-1` -> `rt-2` -> ...); a reused one gets `invalid_grant`. Every access
 * token carries the refresh token issued with it in an `rt` claim, and `/api` records the token used.
 */
function rotatingServer(log: string[] = [], valid: string[] = ['rt-1']) {
  const live = new Set(valid)
  let issued = 1
  const handler: Handler = async (hit: Hit) => {
    if (hit.path === '/api') {
      const claims = decodeJwt(String(hit.headers['authorization']).slice('Bearer '.length))
      log.push(`request:${String(claims['rt'])}`)
      return { status: 204 }
    }
    const sent = hit.form.get('refresh_token') ?? ''
    log.push(`grant:${sent}`)
    if (hit.form.get('grant_type') !== 'refresh_token' || !live.delete(sent)) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'refresh token is invalid or reused' } }
    }
    const next = `rt-${++issued}`
    live.add(next)
    const accessToken = await mint({ claims: { rt: next } })
    return { body: { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, refresh_token: next } }
  }
  return handler
}

function provider(fetchToken: FetchToken, options = {}): TokenProvider {
  const made = createTokenProvider({ fetchToken, retry: { baseDelayMs: 20, maxDelayMs: 20 }, ...options })
  onTestFinished(() => made.dispose())
  return made
}

const sent = () => server.hits.map((hit) => hit.form.get('refresh_token'))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('refreshTokenGrant against a rotating token endpoint', () => {
  it('awaits onRotate with the new refresh token before the new access token is used', async () => {
    const log: string[] = []
    server.reset(rotatingServer(log))
    const tokens = provider(
      refreshTokenGrant({
        tokenUrl: server.tokenUrl,
        clientId: 'agent',
        clientSecret: 'secret',
        refreshToken: 'rt-1',
        onRotate: async (refreshToken) => {
          log.push(`onRotate:${refreshToken}`)
          await sleep(50)
          log.push(`persisted:${refreshToken}`)
        },
      }),
    )
    const token = await tokens.getToken()
    await fetch(server.tokenUrl.replace('/oauth2/token', '/api'), { headers: { authorization: `Bearer ${token}` } })
    expect(log).toEqual(['grant:rt-1', 'onRotate:rt-2', 'persisted:rt-2', 'request:rt-2'])
    expect(tokens.current?.refreshToken).toBe('rt-2')

    await tokens.refresh()
    expect(log.slice(4)).toEqual(['grant:rt-2', 'onRotate:rt-3', 'persisted:rt-3'])
    expect(server.hits[0]?.form.get('grant_type')).toBe('refresh_token')
  })

  it('starts the next grant only after onRotate of the last one has finished', async () => {
    server.reset(rotatingServer())
    let release = () => {}
    const rotated: string[] = []
    const fetchToken = refreshTokenGrant({
      tokenUrl: server.tokenUrl,
      clientId: 'agent',
      refreshToken: 'rt-1',
      onRotate: (refreshToken) => {
        rotated.push(refreshToken)
        return rotated.length === 1 ? new Promise<void>((resolve) => (release = resolve)) : undefined
      },
    })
    const [first, second] = [provider(fetchToken), provider(fetchToken)]
    const firstToken = first.getToken()
    while (rotated.length === 0) await sleep(5)
    const secondToken = second.getToken()
    await sleep(100)
    expect(server.hits).toHaveLength(1)
    release()
    await Promise.all([firstToken, secondToken])
    expect(sent()).toEqual(['rt-1', 'rt-2'])
    expect(rotated).toEqual(['rt-2', 'rt-3'])
  })

  it('reports a failing onRotate as exactly one error event, keeps the rotated token and sends it next', async () => {
    server.reset(rotatingServer())
    let failures = 0
    const tokens = provider(
      refreshTokenGrant({
        tokenUrl: server.tokenUrl,
        clientId: 'agent',
        refreshToken: 'rt-1',
        onRotate: (refreshToken) => {
          if (failures++ === 0) throw new Error(`vault is read-only, could not store ${refreshToken}`)
        },
      }),
    )
    const errors = record(tokens, 'error')
    await tokens.getToken()
    expect(tokens.current?.refreshToken).toBe('rt-2')
    await tokens.refresh()
    expect(sent()).toEqual(['rt-1', 'rt-2'])
    expect(tokens.current?.refreshToken).toBe('rt-3')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ attempt: 0, willRetry: false })
    expect(isAuthError(errors[0]?.error, 'ERR_TOKEN_SOURCE')).toBe(true)
    expect(errors[0]?.error.message).toBe(
      'refreshTokenGrant: onRotate failed (Error); the rotated refresh token is kept in memory only',
    )
    expect(errors[0]?.error.cause).toBeUndefined()
  })

  it('never sends one refresh token twice from two providers sharing a source, refreshing concurrently', async () => {
    server.reset(rotatingServer())
    const fetchToken = refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'agent', refreshToken: 'rt-1' })
    const [first, second] = [provider(fetchToken), provider(fetchToken)]
    const errors = [...record(first, 'error'), ...record(second, 'error')]
    await Promise.all([first.getToken(), second.getToken()])
    // Now `first` holds rt-2, which `second` has spent: the source sends the latest instead.
    await Promise.all([first.refresh(), second.refresh()])
    await Promise.all([second.refresh(), first.refresh()])
    expect(sent()).toEqual(['rt-1', 'rt-2', 'rt-3', 'rt-4', 'rt-5', 'rt-6'])
    expect(new Set(sent()).size).toBe(6)
    expect(errors).toEqual([])
  })

  it("sends the provider's current refresh token, such as a pushed one, over the configured one", async () => {
    server.reset(rotatingServer([], ['rt-1', 'rt-pushed']))
    const tokens = provider(refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'agent', refreshToken: 'rt-1' }))
    tokens.setToken({ accessToken: await mint(), refreshToken: 'rt-pushed' })
    await tokens.refresh()
    expect(sent()).toEqual(['rt-pushed'])
  })

  it('keeps a refresh token the server did not rotate', async () => {
    server.reset(() => ({ body: { access_token: 'opaque', expires_in: 60 } }))
    const context: FetchTokenContext = { signal: new AbortController().signal, reason: 'manual', report: () => {} }
    const fetchToken = refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'agent', refreshToken: 'rt-1' })
    expect(await fetchToken(context)).toEqual({ accessToken: 'opaque', expiresIn: 60, refreshToken: 'rt-1' })
    await fetchToken(context)
    expect(sent()).toEqual(['rt-1', 'rt-1'])
  })

  it('sends client_id in the body for a public client, and the credentials per authMethod otherwise', async () => {
    server.reset(rotatingServer([], ['rt-1', 'rt-2', 'rt-3']))
    const context: FetchTokenContext = { signal: new AbortController().signal, reason: 'manual', report: () => {} }
    await refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'app', refreshToken: 'rt-1', scope: 'read' })(
      context,
    )
    await refreshTokenGrant({
      tokenUrl: server.tokenUrl,
      clientId: 'app',
      clientSecret: 'secret',
      refreshToken: 'rt-2',
      authMethod: 'client_secret_post',
    })(context)
    await refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'app', clientSecret: 's', refreshToken: 'rt-3' })(
      context,
    )
    expect(server.hits.map((hit) => [hit.body, hit.headers['authorization']])).toEqual([
      ['grant_type=refresh_token&refresh_token=rt-1&scope=read&client_id=app', undefined],
      ['grant_type=refresh_token&refresh_token=rt-2&client_id=app&client_secret=secret', undefined],
      ['grant_type=refresh_token&refresh_token=rt-3', `Basic ${btoa('app:s')}`],
    ])
  })

  it('makes invalid_grant terminal after exactly 1 request', async () => {
    server.reset(rotatingServer([], []))
    const tokens = provider(refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'agent', refreshToken: 'rt-1' }))
    const error = await tokens.getToken().catch((error: unknown) => error)
    expect(isAuthError(error, 'ERR_REFRESH')).toBe(true)
    expect((error as Error).cause).toBeInstanceOf(OAuth2Error)
    expect((error as Error).cause).toMatchObject({ error: 'invalid_grant', status: 400, terminal: true })
    expect(tokens.state).toBe('failed')
    // The provider backs off 20 ms at most: a non-terminal error would have been retried by now.
    await sleep(300)
    await expect(tokens.getToken()).rejects.toBe(error)
    expect(server.hits).toHaveLength(1)
  })

  it('does not start a grant for a refresh aborted while it waited its turn', async () => {
    server.reset(rotatingServer())
    const fetchToken = refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'agent', refreshToken: 'rt-1' })
    const report = () => {}
    const controller = new AbortController()
    const first = fetchToken({ signal: new AbortController().signal, reason: 'manual', report })
    const second = fetchToken({ signal: controller.signal, reason: 'manual', report })
    controller.abort(new Error('gave up'))
    const gaveUp = expect(second).rejects.toThrow('gave up')
    await first
    await gaveUp
    expect(sent()).toEqual(['rt-1'])
  })

  it('keeps a rotation that lands after the provider gave up on the grant, and hands it to onRotate', async () => {
    const handler = rotatingServer()
    let slow = true
    server.reset(async (hit) => {
      if (slow) {
        slow = false
        await sleep(300) // the provider's refresh times out before the server answers
      }
      return handler(hit)
    })
    const persisted: string[] = []
    const tokens = provider(
      refreshTokenGrant({
        tokenUrl: server.tokenUrl,
        clientId: 'agent',
        refreshToken: 'rt-1',
        onRotate: (refreshToken) => {
          persisted.push(refreshToken)
        },
      }),
      { refreshTimeoutMs: 100 },
    )
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'ERR_REFRESH_TIMEOUT' })
    await sleep(400)
    // The server spent rt-1 and rotated in rt-2: it was recorded, persisted, and is what we send next.
    expect(persisted).toEqual(['rt-2'])
    await tokens.refresh()
    expect(sent()).toEqual(['rt-1', 'rt-2'])
  })
})
