import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type AuthError,
  clientCredentials,
  createTokenProvider,
  discoverTokenEndpoint,
  refreshTokenGrant,
} from '../../src/index.js'
import { fetchContext as context, authRejection as rejection } from '../helpers/sources.js'
import { type Hit, issueToken, type Reply, startTokenServer, type TokenServer } from '../helpers/token-server.js'

// One real server on 127.0.0.1 plays the protected resource's metadata, the authorization
// server's metadata and its token endpoint; `routes` says what each well-known path answers.
const clientSecret = 'discovery-s3cret'
let server: TokenServer
let origin: string
let routes: Record<string, Reply | ((hit: Hit) => Reply)>

beforeAll(async () => {
  server = await startTokenServer()
  origin = new URL(server.tokenUrl).origin
})
afterAll(() => server.close())
afterEach(() => server.reset())

/** Serves `table` (path -> reply) and tokens at /oauth2/token; anything else is a 404. */
function serve(table: Record<string, Reply | ((hit: Hit) => Reply)>): void {
  routes = table
  server.reset(async (hit) => {
    if (hit.method === 'POST' && hit.path === '/oauth2/token') return issueToken(hit)
    const route = routes[hit.path]
    if (route === undefined) return { status: 404, body: { error: 'not_found' } }
    return typeof route === 'function' ? route(hit) : route
  })
}

const prm = (extra: Record<string, unknown> = {}): Reply => ({
  body: { resource: `${origin}/mcp`, authorization_servers: [`${origin}/tenant`], ...extra },
})
const asMetadata = (extra: Record<string, unknown> = {}): Reply => ({
  body: { issuer: `${origin}/tenant`, token_endpoint: `${origin}/oauth2/token`, ...extra },
})
const standard = () => ({
  '/.well-known/oauth-protected-resource/mcp': prm(),
  '/.well-known/oauth-authorization-server/tenant': asMetadata(),
})

const gets = () => server.hits.filter((hit) => hit.method === 'GET').map((hit) => hit.path)
const posts = () => server.hits.filter((hit) => hit.method === 'POST')

describe('token endpoint discovery', () => {
  it('follows a protected resource to its authorization server, once for every caller, and asks for the resource', async () => {
    serve(standard())
    const fetchToken = clientCredentials({ protectedResource: `${origin}/mcp`, clientId: 'agent', clientSecret })
    await Promise.all(Array.from({ length: 10 }, () => fetchToken(context())))
    await fetchToken(context())
    expect(gets()).toEqual([
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-authorization-server/tenant',
    ])
    expect(posts()).toHaveLength(11)
    for (const hit of posts()) {
      expect(hit.path).toBe('/oauth2/token')
      expect(hit.form.getAll('resource')).toEqual([`${origin}/mcp`])
    }
  })

  it('lets an explicit resource win, sent as repeated form parameters (RFC 8707)', async () => {
    serve(standard())
    const resource = ['https://a.example.com/', 'https://b.example.com/x']
    await clientCredentials({ protectedResource: `${origin}/mcp`, clientId: 'agent', clientSecret, resource })(
      context(),
    )
    expect(posts()[0]?.form.getAll('resource')).toEqual(resource)
    expect(posts()[0]?.body).toContain(
      'resource=https%3A%2F%2Fa.example.com%2F&resource=https%3A%2F%2Fb.example.com%2Fx',
    )
  })

  it('falls back from RFC 8414 to OpenID Connect, path inserted and then appended', async () => {
    serve({ '/tenant/.well-known/openid-configuration': asMetadata() })
    const found = await discoverTokenEndpoint({ issuer: `${origin}/tenant` })
    expect(gets()).toEqual([
      '/.well-known/oauth-authorization-server/tenant',
      '/.well-known/openid-configuration/tenant',
      '/tenant/.well-known/openid-configuration',
    ])
    expect(found).toEqual({
      issuer: `${origin}/tenant`,
      tokenEndpoint: `${origin}/oauth2/token`,
      metadata: { issuer: `${origin}/tenant`, token_endpoint: `${origin}/oauth2/token` },
    })
  })

  it('reports the resource and the metadata from discoverTokenEndpoint', async () => {
    serve(standard())
    const found = await discoverTokenEndpoint({ protectedResource: new URL(`${origin}/mcp`) })
    expect(found.resource).toBe(`${origin}/mcp`)
    expect(found.issuer).toBe(`${origin}/tenant`)
    expect(found.tokenEndpoint).toBe(`${origin}/oauth2/token`)
  })

  it('forgets a failed discovery, so the next token request (the provider backing off) tries again', async () => {
    let down = true
    serve({
      ...standard(),
      '/.well-known/oauth-protected-resource/mcp': () => (down ? { status: 503, body: 'busy' } : prm()),
    })
    const tokens = createTokenProvider({
      fetchToken: clientCredentials({ protectedResource: `${origin}/mcp`, clientId: 'agent', clientSecret }),
      retry: { baseDelayMs: 50, maxDelayMs: 50 },
    })
    const errors: unknown[] = []
    tokens.on('error', ({ error }) => errors.push(error))
    try {
      await expect(tokens.getToken()).rejects.toThrow()
      expect(((errors[0] as AuthError).cause as AuthError).code).toBe('ERR_DISCOVERY')
      down = false
      // Callers during the backoff are refused at once, without a request; the next attempt succeeds.
      let token: string | undefined
      for (let tries = 0; token === undefined && tries < 100; tries++) {
        token = await tokens.getToken().catch(() => undefined)
        if (token === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(typeof token).toBe('string')
      expect(gets().filter((path) => path.includes('protected-resource'))).toHaveLength(2)
      expect(posts()).toHaveLength(1)
    } finally {
      tokens.dispose()
    }
  })

  it('refreshTokenGrant discovers too, and sends no resource unless there is one', async () => {
    serve({ '/.well-known/oauth-authorization-server/tenant': asMetadata() })
    await refreshTokenGrant({ issuer: `${origin}/tenant`, clientId: 'app', refreshToken: 'rt-1' })(context())
    expect(posts()[0]?.form.get('grant_type')).toBe('refresh_token')
    expect(posts()[0]?.form.has('resource')).toBe(false)
  })

  it.each([
    [
      'lists no authorization server',
      () => ({ '/.well-known/oauth-protected-resource/mcp': prm({ authorization_servers: [] }) }),
      'clientCredentials: discovery: ORIGIN/.well-known/oauth-protected-resource/mcp lists no authorization_servers',
    ],
    [
      'is not JSON',
      () => ({ '/.well-known/oauth-protected-resource/mcp': { body: '<html>sign in</html>' } }),
      'clientCredentials: discovery: ORIGIN/.well-known/oauth-protected-resource/mcp answered 200 with a body that is not JSON',
    ],
    [
      'names another resource',
      () => ({ '/.well-known/oauth-protected-resource/mcp': prm({ resource: 'https://evil.example.com/mcp' }) }),
      'describes the resource "https://evil.example.com/mcp", not the protected resource ORIGIN/mcp',
    ],
    [
      'names another issuer',
      () => ({
        ...standard(),
        '/.well-known/oauth-authorization-server/tenant': asMetadata({ issuer: 'https://evil.example.com' }),
      }),
      'clientCredentials: discovery: ORIGIN/.well-known/oauth-authorization-server/tenant names the issuer "https://evil.example.com", not ORIGIN/tenant',
    ],
    [
      'gives a plain-http token endpoint off loopback',
      () => ({
        ...standard(),
        '/.well-known/oauth-authorization-server/tenant': asMetadata({
          token_endpoint: 'http://auth.example.com/token',
        }),
      }),
      'has a token_endpoint that is not https: (http://auth.example.com/token); plain http is only allowed on loopback',
    ],
    [
      'lists an authorization server that is not a URL',
      () => ({ '/.well-known/oauth-protected-resource/mcp': prm({ authorization_servers: ['not a url'] }) }),
      'ORIGIN/.well-known/oauth-protected-resource/mcp has an authorization_servers entry that is not a URL',
    ],
    [
      'has no token_endpoint',
      () => ({ ...standard(), '/.well-known/oauth-authorization-server/tenant': asMetadata({ token_endpoint: 7 }) }),
      'ORIGIN/.well-known/oauth-authorization-server/tenant has no token_endpoint URL',
    ],
    [
      'puts credentials in the token endpoint',
      () => ({
        ...standard(),
        '/.well-known/oauth-authorization-server/tenant': asMetadata({ token_endpoint: 'https://u:p@a.example.com/t' }),
      }),
      'ORIGIN/.well-known/oauth-authorization-server/tenant has a token_endpoint with credentials in it',
    ],
    [
      'fails with a 500',
      () => ({ '/.well-known/oauth-protected-resource/mcp': { status: 500, body: { error: 'x' } } }),
      'ORIGIN/.well-known/oauth-protected-resource/mcp answered 500',
    ],
    [
      'is a JSON array',
      () => ({ '/.well-known/oauth-protected-resource/mcp': { body: [] } }),
      'ORIGIN/.well-known/oauth-protected-resource/mcp answered 200 with JSON that is not an object',
    ],
    [
      'leads to an authorization server without metadata',
      () => ({ '/.well-known/oauth-protected-resource/mcp': prm() }),
      'no authorization server metadata for ORIGIN/tenant (404 at ORIGIN/.well-known/oauth-authorization-server/tenant, ORIGIN/.well-known/openid-configuration/tenant, ORIGIN/tenant/.well-known/openid-configuration)',
    ],
    [
      'is larger than a metadata document can be (read no further than 1 MB)',
      () => ({ '/.well-known/oauth-protected-resource/mcp': prm({ padding: 'x'.repeat(1_100_000) }) }),
      'ORIGIN/.well-known/oauth-protected-resource/mcp answered with more than 1000000 bytes',
    ],
    [
      'has no metadata at all',
      () => ({}),
      'clientCredentials: discovery: ORIGIN/.well-known/oauth-protected-resource/mcp has no protected resource metadata (404)',
    ],
  ])('refuses metadata that %s: a typed error, no token request, no secret', async (_, table, message) => {
    serve(table() as Record<string, Reply>)
    const fetchToken = clientCredentials({
      protectedResource: `${origin}/mcp`,
      clientId: 'agent',
      clientSecret,
    })
    const error = await rejection(fetchToken(context()))
    expect(error.code).toBe('ERR_DISCOVERY')
    expect(error.message).toContain(message.replaceAll('ORIGIN', origin))
    expect(error.message).not.toContain(clientSecret)
    expect(JSON.stringify(error)).not.toContain(clientSecret)
    expect(posts()).toHaveLength(0)
  })

  it('with both issuer and protectedResource, uses that issuer only if the resource lists it', async () => {
    serve({
      ...standard(),
      '/.well-known/oauth-protected-resource/mcp': prm({
        authorization_servers: ['https://a.example.com', `${origin}/tenant`],
      }),
    })
    const found = await discoverTokenEndpoint({ protectedResource: `${origin}/mcp`, issuer: `${origin}/tenant` })
    expect(found.issuer).toBe(`${origin}/tenant`)
    const error = await rejection(
      discoverTokenEndpoint({ protectedResource: `${origin}/mcp`, issuer: 'https://b.example.com' }),
    )
    expect(error.message).toBe(
      `discovery: ${origin}/.well-known/oauth-protected-resource/mcp does not list the issuer https://b.example.com in authorization_servers`,
    )
  })

  it('bounds each metadata request by the source timeout', async () => {
    serve({ '/.well-known/oauth-protected-resource/mcp': 'hang' })
    const fetchToken = clientCredentials({
      protectedResource: `${origin}/mcp`,
      clientId: 'agent',
      clientSecret,
      timeoutMs: 150,
    })
    const error = await rejection(fetchToken(context()))
    expect(error.message).toBe(
      `clientCredentials: discovery: ${origin}/.well-known/oauth-protected-resource/mcp did not answer within 150 ms`,
    )
  })

  it('checks the identifiers it is given at once', () => {
    const base = { clientId: 'agent', clientSecret }
    expect(() => clientCredentials({ ...base, issuer: 'http://auth.example.com' })).toThrow(
      'clientCredentials: issuer must be an absolute https: URL (http: only on a loopback host)',
    )
    expect(() => clientCredentials({ ...base, protectedResource: 'mcp' })).toThrow(
      'clientCredentials: protectedResource must be an absolute https: URL',
    )
    expect(() => clientCredentials(base)).toThrow('clientCredentials: give tokenUrl, issuer or protectedResource')
    expect(() =>
      clientCredentials({ ...base, tokenUrl: 'https://a.example.com/t', protectedResource: 'https://a.example.com/' }),
    ).toThrow('give tokenUrl or protectedResource, not both')
    expect(() => clientCredentials({ ...base, tokenUrl: 'https://a.example.com/t', resource: 'not a uri' })).toThrow(
      'resource must be absolute URIs without a fragment (RFC 8707)',
    )
    expect(() => clientCredentials({ ...base, tokenUrl: 'https://a.example.com/t', resource: [] })).toThrow(
      'resource must be a URI or a non-empty array of URIs',
    )
    expect(() =>
      clientCredentials({
        ...base,
        tokenUrl: 'https://a.example.com/t',
        resource: 'https://r.example.com',
        params: { resource: 'x' },
      }),
    ).toThrow('params.resource is set by clientCredentials itself')
    return expect(discoverTokenEndpoint({})).rejects.toThrow('discoverTokenEndpoint: give issuer or protectedResource')
  })
})
