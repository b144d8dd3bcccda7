import { beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import {
  clientCredentials,
  createTokenProvider,
  OAuth2Error,
  RefreshError,
  type TokenProvider,
} from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { fetchContext as context, authRejection as rejection } from '../helpers/sources.js'
import { issueToken, startTokenServer, type TokenServer } from '../helpers/token-server.js'

// Characters that need escaping: a space, the `:` that separates id and secret, `%`, `+`, non-ASCII.
const clientId = 'a b:c%d+é'
const clientSecret = 'p@ss w:rd%+é'
// Form-urlencoded by hand (RFC 6749 §2.3.1, spaces as `+`), so the test does not reuse the code under test.
const encodedId = 'a+b%3Ac%25d%2B%C3%A9'
const encodedSecret = 'p%40ss+w%3Ard%25%2B%C3%A9'

let server: TokenServer

// A token server for each test, closed when it finishes.
beforeEach(async () => {
  server = await startTokenServer()
})

function provider(fetchToken: ReturnType<typeof clientCredentials>, options = {}): TokenProvider {
  const made = createTokenProvider({ fetchToken, retry: { baseDelayMs: 20, maxDelayMs: 20 }, ...options })
  onTestFinished(() => made.dispose())
  return made
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('clientCredentials against a real token endpoint', () => {
  it('authenticates with client_secret_basic: form-urlencoded, then base64, exactly', async () => {
    const fetchToken = clientCredentials({
      tokenUrl: server.tokenUrl,
      clientId,
      clientSecret,
      scope: 'read write',
      audience: 'https://api.example.com',
    })
    await fetchToken(context())
    expect(server.hits).toHaveLength(1)
    const [hit] = server.hits
    expect(hit?.method).toBe('POST')
    expect(hit?.path).toBe('/oauth2/token')
    expect(hit?.headers['authorization']).toBe(
      `Basic ${Buffer.from(`${encodedId}:${encodedSecret}`, 'latin1').toString('base64')}`,
    )
    expect(hit?.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(hit?.headers['accept']).toBe('application/json')
    expect(hit?.body).toBe('grant_type=client_credentials&scope=read+write&audience=https%3A%2F%2Fapi.example.com')
    // What a server does: base64-decode, split at the one unescaped `:`, form-decode each part.
    const basic = Buffer.from(String(hit?.headers['authorization']).slice(6), 'base64').toString('latin1')
    const [id, secret] = basic.split(':').map((part) => decodeURIComponent(part.replaceAll('+', ' ')))
    expect([id, secret]).toEqual([clientId, clientSecret])
  })

  it('authenticates with client_secret_post: the credentials in the body, no Authorization header', async () => {
    const fetchToken = clientCredentials({
      tokenUrl: server.tokenUrl,
      clientId,
      clientSecret,
      scope: 'read write',
      authMethod: 'client_secret_post',
    })
    await fetchToken(context())
    expect(server.hits).toHaveLength(1)
    const [hit] = server.hits
    expect(hit?.headers['authorization']).toBeUndefined()
    expect(hit?.body).toBe(
      `grant_type=client_credentials&scope=read+write&client_id=${encodedId}&client_secret=${encodedSecret}`,
    )
    expect([hit?.form.get('client_id'), hit?.form.get('client_secret')]).toEqual([clientId, clientSecret])
  })

  it('sends extra params and headers, and uses the injected fetch', async () => {
    let calls = 0
    const fetchToken = clientCredentials({
      tokenUrl: server.tokenUrl,
      clientId: 'svc',
      clientSecret: 'secret',
      params: { resource: 'https://api.example.com/' },
      headers: { 'x-tenant': 'acme' },
      fetch: (input, init) => {
        calls++
        return fetch(input, init)
      },
    })
    await fetchToken(context())
    expect(calls).toBe(1)
    expect(server.hits[0]?.form.get('resource')).toBe('https://api.example.com/')
    expect(server.hits[0]?.headers['x-tenant']).toBe('acme')
  })

  it('makes exactly 1 grant request for 100 concurrent getToken() calls', async () => {
    const tokens = provider(clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' }))
    const results = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken()))
    expect(server.hits).toHaveLength(1)
    expect(new Set(results).size).toBe(1)
    expect(tokens.current?.tokenType).toBe('Bearer')
    const { issuedAt = 0, expiresAt = 0 } = tokens.current ?? {}
    expect(expiresAt - issuedAt).toBe(3_600_000)
  })

  it("takes a JWT's expiry from its exp claim when the answer has no expires_in", async () => {
    const accessToken = await mint({ lifetimeMs: 600_000 })
    server.reset(() => ({ body: { access_token: accessToken, token_type: 'Bearer', scope: 'read' } }))
    const tokens = provider(clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' }))
    const set = await tokens.getTokenSet()
    const exp = JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString()).exp as number
    expect(set).toMatchObject({ accessToken, expiresAt: exp * 1000, scope: 'read', tokenType: 'Bearer' })
    expect(set.refreshToken).toBeUndefined()
  })

  it('accepts expires_in as a string of digits, and ignores a refresh_token', async () => {
    server.reset(() => ({ body: { access_token: 'opaque', expires_in: '120', refresh_token: 'unused' } }))
    const input = await clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })(
      context(),
    )
    expect(input).toEqual({ accessToken: 'opaque', expiresIn: 120 })
  })

  it('makes invalid_client terminal after exactly 1 request', async () => {
    server.reset(() => ({ status: 401, body: { error: 'invalid_client', error_description: 'unknown client' } }))
    const tokens = provider(clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' }))
    const error = await rejection(tokens.getToken())
    expect(error).toBeInstanceOf(RefreshError)
    expect(error.terminal).toBe(true)
    expect(error.cause).toBeInstanceOf(OAuth2Error)
    expect(error.cause).toMatchObject({ error: 'invalid_client', errorDescription: 'unknown client', status: 401 })
    expect(tokens.state).toBe('failed')
    // The provider backs off 20 ms at most: a non-terminal error would have been retried by now.
    await sleep(300)
    await expect(tokens.getToken()).rejects.toBe(error)
    expect(server.hits).toHaveLength(1)
  })

  it('retries a 503 with Retry-After: 1 after that delay', async () => {
    let calls = 0
    server.reset(() =>
      ++calls === 1
        ? { status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable' } }
        : issueToken({} as never),
    )
    const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })
    await fetchToken(context())
    expect(server.hits).toHaveLength(2)
    const gap = (server.hits[1]?.at ?? 0) - (server.hits[0]?.at ?? 0)
    expect(gap).toBeGreaterThanOrEqual(950)
    expect(gap).toBeLessThan(10_000)
  })

  it('waits no longer than its timeout for a far Retry-After', async () => {
    let calls = 0
    server.reset(() =>
      ++calls === 1
        ? { status: 503, headers: { 'retry-after': '3600' }, body: { error: 'temporarily_unavailable' } }
        : issueToken({} as never),
    )
    const fetchToken = clientCredentials({
      tokenUrl: server.tokenUrl,
      clientId: 'svc',
      clientSecret: 'secret',
      timeoutMs: 300,
    })
    await fetchToken(context())
    expect(server.hits).toHaveLength(2)
    expect((server.hits[1]?.at ?? 0) - (server.hits[0]?.at ?? 0)).toBeLessThan(5_000)
  })

  it('retries a 429, and gives up after `retry` retries with an error naming the status', async () => {
    let calls = 0
    server.reset(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '0' } } : issueToken({} as never)))
    const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })
    await fetchToken(context())
    expect(server.hits).toHaveLength(2)

    server.reset(() => ({ status: 429, headers: { 'retry-after': '0' } }))
    const error = await rejection(fetchToken(context()))
    expect(server.hits).toHaveLength(3)
    expect(error.code).toBe('ERR_TOKEN_SOURCE')
    expect(error.terminal).toBe(false)
    expect(error.message).toBe(`clientCredentials: token endpoint ${server.tokenUrl} answered 429`)
  })

  it('retries 500 twice by default and not at all with retry: 0', async () => {
    server.reset(() => ({ status: 500, body: { error: 'server_error' } }))
    const error = await rejection(
      clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })(context()),
    )
    expect(server.hits).toHaveLength(3)
    expect(error.message).toBe(`clientCredentials: token endpoint ${server.tokenUrl} answered 500 (server_error)`)
    expect(error).not.toBeInstanceOf(OAuth2Error)

    server.reset(() => ({ status: 500 }))
    await rejection(
      clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 's', retry: 0 })(context()),
    )
    expect(server.hits).toHaveLength(1)
  })

  it('never retries another 4xx: an RFC 6749 error is an OAuth2Error, anything else names status and URL', async () => {
    server.reset(() => ({ status: 400, body: { error: 'invalid_scope', error_description: 'no such scope' } }))
    const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })
    const oauth = await rejection(fetchToken(context()))
    expect(server.hits).toHaveLength(1)
    expect(oauth).toBeInstanceOf(OAuth2Error)
    expect(oauth).toMatchObject({ error: 'invalid_scope', errorDescription: 'no such scope', status: 400 })
    expect(oauth.terminal).toBe(false)
    expect(oauth.message).toBe(
      `clientCredentials: token endpoint ${server.tokenUrl} answered 400 invalid_scope: no such scope`,
    )

    server.reset(() => ({ status: 404, body: 'Not Found' }))
    const withQuery = clientCredentials({
      tokenUrl: `${server.tokenUrl}?tenant=acme`,
      clientId: 'svc',
      clientSecret: 's',
    })
    const other = await rejection(withQuery(context()))
    expect(server.hits).toHaveLength(1)
    expect(server.hits[0]?.path).toBe('/oauth2/token?tenant=acme')
    expect(other).not.toBeInstanceOf(OAuth2Error)
    expect(other.code).toBe('ERR_TOKEN_SOURCE')
    expect(other.terminal).toBe(false)
    expect(other.message).toBe(`clientCredentials: token endpoint ${server.tokenUrl} answered 404`)
  })

  it('reads an error body sent with the wrong content type, and an error sent with 200', async () => {
    server.reset(() => ({ status: 400, body: '{"error":"invalid_request"}' }))
    const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })
    expect(await rejection(fetchToken(context()))).toMatchObject({ error: 'invalid_request', status: 400 })

    server.reset(() => ({ status: 200, body: { error: 'unauthorized_client' } }))
    const error = await rejection(fetchToken(context()))
    expect(error).toBeInstanceOf(OAuth2Error)
    expect(error).toMatchObject({ error: 'unauthorized_client', status: 200, terminal: true })
  })

  it.each<[unknown, string]>([
    ['<html>oops</html>', 'with a body that is neither JSON nor a form'],
    ['{"access_token": "x"', 'with a body that is neither JSON nor a form'],
    [[1, 2], 'with JSON that is not an object'],
    [{ token_type: 'Bearer' }, 'without an access_token'],
    [{ access_token: 42 }, 'with an access_token that is not a string'],
    [{ access_token: 'x', expires_in: 'soon' }, 'with an expires_in that is not a number of seconds'],
    [{ access_token: 'x', expires_in: '36 00' }, 'with an expires_in that is not a number of seconds'],
    [{ access_token: 'x', expires_in: { seconds: 60 } }, 'with an expires_in that is not a number of seconds'],
    [{ access_token: 'x', token_type: 7 }, 'with a token_type that is not a string'],
  ])(
    'fails clearly, and not terminally, on a success body that is not a usable token response: %j',
    async (body, problem) => {
      const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })
      server.reset(() => ({ body }))
      const error = await rejection(fetchToken(context()))
      expect(error.message).toBe(`clientCredentials: token endpoint ${server.tokenUrl} answered 200 ${problem}`)
      expect([error.code, error.terminal, server.hits.length]).toEqual(['ERR_TOKEN_SOURCE', false, 1])
    },
  )

  it('never follows a redirect, which would send the credentials on', async () => {
    const elsewhere = await startTokenServer()
    server.reset(() => ({ status: 307, headers: { location: elsewhere.tokenUrl } }))
    const fetchToken = clientCredentials({
      tokenUrl: server.tokenUrl,
      clientId: 'svc',
      clientSecret: 'secret',
      authMethod: 'client_secret_post',
    })
    const error = await rejection(fetchToken(context()))
    await elsewhere.close()
    expect(elsewhere.hits).toHaveLength(0)
    expect(server.hits).toHaveLength(1)
    expect(error.message).toBe(
      `clientCredentials: token endpoint ${server.tokenUrl} answered 307, a redirect: set tokenUrl to the final URL`,
    )
    expect([error.code, error.terminal]).toEqual(['ERR_TOKEN_SOURCE', false])
  })

  it('times out a hanging endpoint with a clear error, without retrying it', async () => {
    server.reset(() => 'hang')
    const fetchToken = clientCredentials({
      tokenUrl: server.tokenUrl,
      clientId: 'svc',
      clientSecret: 'secret',
      timeoutMs: 200,
    })
    const started = performance.now()
    const error = await rejection(fetchToken(context()))
    const elapsed = performance.now() - started
    // Generous: only proves that timeoutMs, not ky's 10-second default, applied.
    expect(elapsed).toBeGreaterThanOrEqual(190)
    expect(elapsed).toBeLessThan(5_000)
    expect(error.message).toBe(`clientCredentials: token endpoint ${server.tokenUrl} did not answer within 200 ms`)
    expect([error.code, error.terminal]).toEqual(['ERR_TOKEN_SOURCE', false])
    expect(server.hits).toHaveLength(1)
  })

  it("rejects with the signal's reason when the provider aborts", async () => {
    server.reset(() => 'hang')
    const controller = new AbortController()
    const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret: 'secret' })
    const pending = fetchToken(context({ signal: controller.signal }))
    while (server.hits.length === 0) await sleep(5)
    const reason = new Error('disposed')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
  })

  it('names the system error when the endpoint cannot be reached', async () => {
    // Port 2: nothing listens there, and no server of ours can get it (below the ephemeral range; fetch
    // refuses port 1). A closed server's port may be taken again at once by another test's server.
    const tokenUrl = 'http://127.0.0.1:2/oauth2/token'
    const fetchToken = clientCredentials({ tokenUrl, clientId: 'svc', clientSecret: 'secret' })
    const error = await rejection(fetchToken(context()))
    expect(error.message).toBe(`clientCredentials: token endpoint ${tokenUrl} could not be reached (ECONNREFUSED)`)
    expect(error.cause).toBeUndefined()
  })
})
