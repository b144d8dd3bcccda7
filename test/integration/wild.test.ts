import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  clientCredentials,
  createRegistry,
  createTokenProvider,
  createTokenPushHandler,
  type FetchToken,
  type FetchTokenContext,
  isAuthError,
  OAuth2Error,
  parseToken,
  RefreshingClient,
  refreshTokenGrant,
  TokenDecodeError,
} from '../../src/index.js'
import { fileToken } from '../../src/node.js'
import { mint } from '../helpers/jwt.js'
import { record } from '../helpers/record.js'
import { startApiServer } from '../helpers/servers.js'
import { type Reply, startTokenServer } from '../helpers/token-server.js'

const context = (overrides: Partial<FetchTokenContext> = {}): FetchTokenContext => ({
  signal: new AbortController().signal,
  reason: 'initial',
  report: () => {},
  ...overrides,
})

async function server(handler: Parameters<typeof startTokenServer>[0]) {
  const started = await startTokenServer(handler)
  return started
}

function provider(options: Parameters<typeof createTokenProvider>[0]) {
  const tokens = createTokenProvider(options)
  onTestFinished(() => tokens.dispose())
  return tokens
}

const form = (fields: Record<string, string>, type = 'application/x-www-form-urlencoded'): Reply => ({
  headers: { 'content-type': type },
  body: new URLSearchParams(fields).toString(),
})

const json = (body: unknown, type: string): Reply => ({ headers: { 'content-type': type }, body: JSON.stringify(body) })

describe('token-endpoint dialects', () => {
  it.each<[string, (token: string) => Reply, { expiresIn?: number; tokenType?: string }]>([
    ['JSON with a charset', (t) => json({ access_token: t, expires_in: 60 }, 'application/json; charset=utf-8'), {}],
    ['JSON in upper case', (t) => json({ access_token: t, expires_in: 60 }, 'APPLICATION/JSON'), {}],
    ['a +json type', (t) => json({ access_token: t, expires_in: 60 }, 'application/vnd.oauth+json'), {}],
    ['JSON sent as text/plain', (t) => json({ access_token: t, expires_in: 60 }, 'text/plain'), {}],
    ['a form', (t) => form({ access_token: t, expires_in: '60', token_type: 'bearer' }), { tokenType: 'bearer' }],
    ['a form with a charset', (t) => form({ access_token: t }, 'application/x-www-form-urlencoded; charset=UTF-8'), {}],
    ['a form sent as text/plain', (t) => form({ access_token: t, expires_in: '60' }, 'text/plain'), {}],
    ['expires_in as a string', (t) => json({ access_token: t, expires_in: '60' }, 'application/json'), {}],
    [
      'expires_in as a padded decimal string',
      (t) => json({ access_token: t, expires_in: ' 60.0 ' }, 'application/json'),
      {},
    ],
    [
      'token_type in any case',
      (t) => json({ access_token: t, token_type: 'BEARER' }, 'application/json'),
      { tokenType: 'BEARER' },
    ],
    [
      'a token with a trailing newline',
      (t) => json({ access_token: `${t}\r\n`, expires_in: 60 }, 'application/json'),
      {},
    ],
  ])('reads %s', async (_, reply, extra) => {
    const jwt = await mint({ sub: 'svc', lifetimeMs: 3_600_000 })
    const endpoint = await server(() => reply(jwt))
    const fetchToken = clientCredentials({ tokenUrl: endpoint.tokenUrl, clientId: 'svc', clientSecret: 's' })
    const tokens = provider({ fetchToken })
    const set = await tokens.getTokenSet()
    expect(set.accessToken).toBe(jwt)
    expect(set.tokenType).toBe(extra.tokenType)
    // expires_in 60 is earlier than the JWT's hour; without it, the JWT's exp decides.
    const sixty = /expires_in/.test(JSON.stringify(reply(jwt)))
    const exp = parseToken(jwt).expiresAt as number
    if (sixty) expect(set.expiresAt).toBeLessThan(exp - 3_000_000)
    else expect(set.expiresAt).toBe(exp)
  })

  it.each<[string, Reply, string]>([
    [
      'a JSON error in a 200',
      json({ error: 'invalid_client', error_description: 'who?' }, 'application/json'),
      'invalid_client',
    ],
    ['a form error in a 200', form({ error: 'invalid_grant' }), 'invalid_grant'],
    [
      'a form error in a 400',
      { ...(form({ error: 'invalid_client' }) as Exclude<Reply, 'hang' | 'reset'>), status: 400 },
      'invalid_client',
    ],
  ])('turns %s into a terminal OAuth2Error', async (_, reply, code) => {
    const endpoint = await server(() => reply)
    const fetchToken = clientCredentials({ tokenUrl: endpoint.tokenUrl, clientId: 'svc', clientSecret: 's' })
    const error = await Promise.resolve(fetchToken(context())).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OAuth2Error)
    expect(error).toMatchObject({ error: code, terminal: true })
  })

  it.each<[string, Reply, string]>([
    [
      'plain text',
      { headers: { 'content-type': 'text/plain' }, body: 'here is your token' },
      'with a body that is neither JSON nor a form',
    ],
    ['a form without a token', form({ token: 'x' }), 'without an access_token'],
    [
      'a non-numeric expires_in',
      json({ access_token: 'abc', expires_in: 'soon' }, 'application/json'),
      'with an expires_in that is not a number of seconds',
    ],
    [
      'an array as expires_in',
      json({ access_token: 'abc', expires_in: [60] }, 'application/json'),
      'with an expires_in that is not a number of seconds',
    ],
    ['a numeric token', json({ access_token: 42 }, 'application/json'), 'with an access_token that is not a string'],
  ])('refuses %s with a typed, token-free error', async (_, reply, message) => {
    const endpoint = await server(() => reply)
    const fetchToken = clientCredentials({ tokenUrl: endpoint.tokenUrl, clientId: 'svc', clientSecret: 'the-secret' })
    const error = (await Promise.resolve(fetchToken(context())).catch((e: unknown) => e)) as Error
    expect(isAuthError(error, 'ERR_TOKEN_SOURCE')).toBe(true)
    expect(error.message).toBe(`clientCredentials: token endpoint ${endpoint.tokenUrl} answered 200 ${message}`)
    expect(error.message).not.toContain('the-secret')
  })

  it('records a rotated refresh token from a form answer, and sends it next', async () => {
    const sent: string[] = []
    const endpoint = await server(async (hit) => {
      const refreshToken = hit.form.get('refresh_token') as string
      sent.push(refreshToken)
      const next = `rt-${sent.length + 1}`
      return form({ access_token: await mint({ sub: 'u', lifetimeMs: 60_000 }), refresh_token: next, expires_in: '60' })
    })
    const rotated: string[] = []
    const fetchToken = refreshTokenGrant({
      tokenUrl: endpoint.tokenUrl,
      clientId: 'desktop',
      refreshToken: 'rt-1\n',
      onRotate: (token) => {
        rotated.push(token)
      },
    })
    const tokens = provider({ fetchToken })
    expect((await tokens.getTokenSet()).refreshToken).toBe('rt-2')
    await tokens.refresh()
    expect(sent).toEqual(['rt-1', 'rt-2'])
    expect(rotated).toEqual(['rt-2', 'rt-3'])
    expect(tokens.current?.refreshToken).toBe('rt-3')
  })

  it.each<[string, (refreshToken: string) => Reply]>([
    [
      'a bad expires_in',
      (rt) => json({ access_token: 'abc', refresh_token: rt, expires_in: 'soon' }, 'application/json'),
    ],
    ['a form without an access token', (rt) => form({ refresh_token: rt, expires_in: '60' })],
    ['a numeric access token', (rt) => json({ access_token: 7, refresh_token: rt }, 'application/json')],
  ])('records the rotated refresh token before anything else can fail: %s', async (_, broken) => {
    const sent: string[] = []
    let first = true
    // A rotating server: every refresh token works once; reuse is invalid_grant.
    const endpoint = await server(async (hit) => {
      const refreshToken = hit.form.get('refresh_token') as string
      sent.push(refreshToken)
      const expected = `rt-${sent.length}`
      if (refreshToken !== expected) return { status: 400, body: { error: 'invalid_grant' } }
      const next = `rt-${sent.length + 1}`
      if (first) {
        first = false
        return broken(next)
      }
      return { body: { access_token: await mint({ sub: 'u' }), refresh_token: next, expires_in: 3600 } }
    })
    const rotated: string[] = []
    const fetchToken = refreshTokenGrant({
      tokenUrl: endpoint.tokenUrl,
      clientId: 'desktop',
      refreshToken: 'rt-1',
      onRotate: (token) => {
        rotated.push(token)
      },
    })
    const error = await Promise.resolve(fetchToken(context())).catch((e: unknown) => e)
    expect(isAuthError(error, 'ERR_TOKEN_SOURCE')).toBe(true)
    expect(rotated).toEqual(['rt-2'])
    const input = await fetchToken(context())
    expect(sent).toEqual(['rt-1', 'rt-2'])
    expect(input).toMatchObject({ refreshToken: 'rt-3' })
  })
})

describe('whitespace around a token, wherever it enters', () => {
  const padded = (token: string) => `\n ${token}\r\n\t`

  it('is trimmed from initialToken, a string from fetchToken, setToken and a file', async () => {
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => mint({ sub: 'agent', lifetimeMs: 3_600_000 })))
    const tokens = provider({ initialToken: padded(a as string), fetchToken: async () => padded(b as string) })
    expect(await tokens.getToken()).toBe(a)
    expect((await tokens.refresh()).accessToken).toBe(b)
    // A push with the same expiry and issue time: a tie, which a push wins.
    expect(tokens.setToken(padded(c as string))).toBe(true)
    expect(await tokens.getToken()).toBe(c)
    const path = join(tmpdir(), `rc-wild-${process.pid}-${Date.now()}.jwt`)
    await writeFile(path, padded(d as string))
    const fromFile = provider({ fetchToken: fileToken(path) })
    expect(await fromFile.getToken()).toBe(d)
  })

  it('is trimmed from a pushed token, which then verifies', async () => {
    const registry = createRegistry()
    onTestFinished(() => registry.dispose())
    registry.scope('agent-7')
    const secret = new TextEncoder().encode('push secret, at least 32 bytes long!!')
    const handler = createTokenPushHandler({
      registry,
      scopeId: () => 'agent-7',
      verify: { key: secret, algorithms: ['HS256'] },
    })
    const token = await mint({ sub: 'agent-7', secret })
    const response = await handler(
      new Request('http://127.0.0.1/push', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: padded(token) }),
      }),
    )
    expect(response.status).toBe(204)
    expect(registry.get('agent-7')?.tokens.current?.accessToken).toBe(token)
  })

  it('is trimmed from a refresh token option, which is sent bare', async () => {
    const endpoint = await server(async (hit) => ({
      body: { access_token: await mint(), expires_in: 60, refresh_token: hit.form.get('refresh_token') },
    }))
    const fetchToken = refreshTokenGrant({ tokenUrl: endpoint.tokenUrl, clientId: 'c', refreshToken: '\trt-1 \n' })
    await fetchToken(context())
    expect(endpoint.hits.map((hit) => hit.form.get('refresh_token'))).toEqual(['rt-1'])
  })

  it.each(['a b', 'a\nb', 'a\tb.c.d'])(
    'still refuses whitespace inside a token (%j) with a TokenDecodeError',
    async (inner) => {
      const errors: unknown[] = []
      const tokens = provider({ fetchToken: async () => inner })
      tokens.on('error', ({ error }) => errors.push(error.cause))
      await expect(tokens.getToken()).rejects.toMatchObject({ code: 'ERR_REFRESH' })
      expect(errors[0]).toBeInstanceOf(TokenDecodeError)
      expect((errors[0] as Error).message).toBe('the token contains whitespace or control characters')
      expect(() => tokens.setToken(` ${inner} `)).toThrow(TokenDecodeError)
    },
  )
})

describe('two expiries', () => {
  // The API checks `exp` with no tolerance; tokens live 2 s by their JWT, whatever expires_in says.
  it.each([
    ['expires_in: 3600 with a JWT exp 2 s away', 3600],
    ['expires_in: 0 ("never") with a JWT exp 2 s away', 0],
    ['expires_in: "-1" with a JWT exp 2 s away', '-1'],
    ['no expires_in', undefined],
  ])(
    'follows the earlier: %s',
    async (_, expiresIn) => {
      const endpoint = await server(async () => ({
        body: {
          access_token: await mint({ sub: 'svc', lifetimeMs: 2_000 }),
          token_type: 'Bearer',
          ...(expiresIn === undefined ? {} : { expires_in: expiresIn }),
        },
      }))
      const api = await startApiServer()
      const tokens = provider({
        fetchToken: clientCredentials({ tokenUrl: endpoint.tokenUrl, clientId: 'svc', clientSecret: 's' }),
      })
      const client = new RefreshingClient({ tokens, baseUrl: api.origin })
      const statuses: number[] = []
      const until = Date.now() + 7_000
      while (Date.now() < until) {
        const batch = await Promise.all(Array.from({ length: 5 }, () => client.fetch('/tool').then((r) => r.status)))
        statuses.push(...batch)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(statuses.filter((status) => status !== 200)).toEqual([])
      expect(api.hits.length).toBe(statuses.length) // not one 401 replayed
      // 7 s of 2-second tokens: a refresh every 1.6 s at most, never a loop.
      expect(endpoint.hits.length).toBeGreaterThanOrEqual(4)
      expect(endpoint.hits.length).toBeLessThanOrEqual(9)
    },
    20_000,
  )

  it('uses an opaque token with expires_in 0 until a 401, without calling the endpoint in a loop', async () => {
    let issued = 0
    const endpoint = await server(() => ({ body: { access_token: `opaque-${++issued}`, expires_in: 0 } }))
    const tokens = provider({
      fetchToken: clientCredentials({ tokenUrl: endpoint.tokenUrl, clientId: 'svc', clientSecret: 's' }),
    })
    for (let i = 0; i < 20; i++) expect(await tokens.getToken()).toBe('opaque-1')
    expect(tokens.current?.expiresAt).toBeUndefined()
    expect(tokens.state).toBe('fresh')
    tokens.invalidate('opaque-1')
    expect(await tokens.getToken()).toBe('opaque-2')
    expect(endpoint.hits).toHaveLength(2)
  })
})

describe('a refused replay', () => {
  it('invalidates the fresh token it carried, so a burst after it succeeds', async () => {
    const api = await startApiServer()
    const issued: string[] = []
    // The refresh races a revocation: the first two tokens are already refused when they arrive.
    const fetchToken: FetchToken = async () => {
      const token = await mint({ sub: 'agent', lifetimeMs: 3_600_000 })
      issued.push(token)
      if (issued.length <= 2) api.revoked.add(token)
      return token
    }
    const tokens = provider({ fetchToken })
    const client = new RefreshingClient({ tokens, baseUrl: api.origin })
    const unauthorized = record(client, 'unauthorized')
    expect((await client.fetch('/first')).status).toBe(401)
    expect(unauthorized).toEqual([{ url: `${api.origin}/first`, status: 401, retried: true }])
    const burst = await Promise.all(Array.from({ length: 50 }, () => client.fetch('/burst').then((r) => r.status)))
    expect(burst).toEqual(Array(50).fill(200))
    expect(issued).toHaveLength(3)
    expect(api.hits.filter((hit) => hit.path === '/burst')).toHaveLength(50)
  })
})

describe('a same-second replacement push', () => {
  it('replaces the current token with a different one of the same exp and iat (204), but never with an older one', async () => {
    const registry = createRegistry()
    onTestFinished(() => registry.dispose())
    const scope = registry.scope('agent-7')
    const handler = createTokenPushHandler({ registry, scopeId: () => 'agent-7' })
    const issuedAt = Math.floor(Date.now() / 1000) * 1000
    const [a, b, older] = await Promise.all([
      mint({ sub: 'agent-7', issuedAt }),
      mint({ sub: 'agent-7', issuedAt }),
      mint({ sub: 'agent-7', issuedAt: issuedAt - 1_000 }),
    ])
    const push = (token: string) =>
      handler(
        new Request('http://127.0.0.1/push', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token }),
        }),
      ).then((response) => response.status)
    expect(await push(a as string)).toBe(204)
    expect(await push(b as string)).toBe(204)
    expect(scope.tokens.current?.accessToken).toBe(b)
    expect(await push(b as string)).toBe(409)
    expect(await push(older as string)).toBe(409)
    expect(scope.tokens.current?.accessToken).toBe(b)
  })
})
