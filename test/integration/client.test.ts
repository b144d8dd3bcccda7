import { inspect } from 'node:util'
import ky, { HTTPError } from 'ky'
import { beforeEach, describe, expect, expectTypeOf, it, onTestFinished } from 'vitest'
import {
  CrossOriginError,
  createTokenProvider,
  DisposedError,
  RefreshingClient,
  type TokenProvider,
} from '../../src/index.js'
import { pendingTimers } from '../../src/internal/timer.js'
import { mint } from '../helpers/jwt.js'
import { record } from '../helpers/record.js'
import { type ApiServer, bearerOf, json, startApiServer, startServer } from '../helpers/servers.js'
import { startTokenServer, type TokenServer } from '../helpers/token-server.js'

let api: ApiServer
let auth: TokenServer

beforeEach(async () => {
  api = await startApiServer()
  auth = await startTokenServer()
})

function makeClient(options: Partial<ConstructorParameters<typeof RefreshingClient>[0]> = {}): RefreshingClient {
  const client = new RefreshingClient({ tokens: { fetchToken: auth.fetchToken }, baseUrl: api.origin, ...options })
  onTestFinished(() => client.dispose())
  return client
}

/** Revokes the client's current token, as a server that rejects it before its `exp`. */
async function revokeCurrent(client: RefreshingClient): Promise<string> {
  const token = await client.tokens.getToken()
  api.revoked.add(token)
  return token
}

describe('RefreshingClient.fetch', () => {
  it('refreshes once and replays once when the token is revoked early: 2 hits, 1 fetch, 200', async () => {
    const client = makeClient()
    const retries = record(client, 'retry')
    const revoked = await revokeCurrent(client)
    const response = await client.fetch('/v1/items?secret=1')
    expect(response.status).toBe(200)
    expect(api.hits).toHaveLength(2)
    expect(auth.calls()).toBe(2)
    expect(bearerOf(api.hits[0]!)).toBe(revoked)
    expect(bearerOf(api.hits[1]!)).toBe(auth.issued[1])
    expect(retries).toEqual([{ url: `${api.origin}/v1/items` }])
  })

  const bodies: [string, () => BodyInit][] = [
    ['a JSON string', () => JSON.stringify({ hello: 'world', n: [1, 2, 3] })],
    [
      'FormData',
      () => {
        const form = new FormData()
        form.set('field', 'value')
        form.set('file', new Blob(['file contents'], { type: 'text/plain' }), 'a.txt')
        return form
      },
    ],
    ['URLSearchParams', () => new URLSearchParams({ a: '1', b: 'two words' })],
    ['a Blob', () => new Blob([new Uint8Array([0, 1, 2, 255])], { type: 'application/octet-stream' })],
    ['bytes', () => new Uint8Array([9, 8, 7])],
    [
      'a ReadableStream',
      () =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('chunk one,'))
            controller.enqueue(new TextEncoder().encode('chunk two'))
            controller.close()
          },
        }),
    ],
  ]

  it.each(bodies)('replays %s byte for byte', async (_, makeBody) => {
    const client = makeClient()
    await revokeCurrent(client)
    const response = await client.fetch('/upload', { method: 'POST', body: makeBody(), duplex: 'half' } as RequestInit)
    expect(response.status).toBe(200)
    expect(api.hits).toHaveLength(2)
    const [first, second] = api.hits as [(typeof api.hits)[0], (typeof api.hits)[0]]
    expect(first.body.length).toBeGreaterThan(0)
    expect(second.body.equals(first.body)).toBe(true)
    expect(second.headers['content-type']).toBe(first.headers['content-type'])
    expect(((await response.json()) as { sha256: string }).sha256).toHaveLength(64)
  })

  it('replays a POST Request object, keeping its content-length', async () => {
    const client = makeClient()
    await revokeCurrent(client)
    const request = new Request(api.url('/r'), { method: 'POST', body: 'payload', headers: { 'x-a': '1' } })
    const response = await client.fetch(request)
    expect(response.status).toBe(200)
    expect(api.hits.map((hit) => hit.body.toString())).toEqual(['payload', 'payload'])
    expect(api.hits.map((hit) => [hit.headers['content-length'], hit.headers['x-a']])).toEqual([
      ['7', '1'],
      ['7', '1'],
    ])
    expect(request.bodyUsed).toBe(false)
    expect(await request.text()).toBe('payload')
  })

  it('returns the 401 after exactly one replay when the server always refuses; ky throws HTTPError', async () => {
    const client = makeClient()
    const unauthorized = record(client, 'unauthorized')
    api.alwaysUnauthorized = true
    const response = await client.fetch('/x')
    expect(response.status).toBe(401)
    expect(api.hits).toHaveLength(2)
    expect(unauthorized).toEqual([{ url: `${api.origin}/x`, status: 401, retried: true }])
    const error = await client.ky.get('y').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(HTTPError)
    expect((error as HTTPError).response.status).toBe(401)
    expect(api.hits).toHaveLength(4)
  })

  it('makes 1 token fetch and 2,000 hits for 1,000 concurrent requests meeting a revoked token', async () => {
    const client = makeClient()
    await revokeCurrent(client)
    const before = auth.calls()
    const responses = await Promise.all(Array.from({ length: 1_000 }, (_, i) => client.fetch(`/item/${i}`)))
    expect(responses.every((response) => response.status === 200)).toBe(true)
    expect(auth.calls() - before).toBe(1)
    expect(api.hits).toHaveLength(2_000)
  })

  it('replays with a pushed token without fetching when a 401 names a token already replaced', async () => {
    const tokens = createTokenProvider({ fetchToken: auth.fetchToken })
    onTestFinished(() => tokens.dispose())
    const old = await tokens.getToken()
    api.revoked.add(old)
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const gated = new RefreshingClient({
      tokens,
      baseUrl: api.origin,
      fetch: async (input, init) => {
        const response = await fetch(input, init)
        if (response.status === 401) {
          // The push lands while the 401 is on its way back.
          tokens.setToken(await mint({ lifetimeMs: 2 * 3_600_000 }))
          release()
        }
        return response
      },
    })
    onTestFinished(() => gated.dispose())
    const response = await gated.fetch('/a')
    await gate
    expect(response.status).toBe(200)
    expect(auth.calls()).toBe(1)
    expect(api.hits).toHaveLength(2)
  })

  it('returns the original 401 when the refresh after it fails', async () => {
    let fail = false
    const client = makeClient({
      tokens: {
        fetchToken: async (context) => {
          if (fail) throw new Error('token endpoint down')
          return auth.fetchToken(context)
        },
      },
    })
    const unauthorized = record(client, 'unauthorized')
    await revokeCurrent(client)
    fail = true
    const response = await client.fetch('/a')
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual({ error: 'unauthorized' })
    expect(api.hits).toHaveLength(1)
    expect(unauthorized).toEqual([{ url: `${api.origin}/a`, status: 401, retried: false }])
  })

  it('does not retry a status outside retryOnStatus, and retries one inside it', async () => {
    const server = await startServer((hit, response) => json(response, hit.path === '/403' ? 403 : 418, {}))
    const client = makeClient({ baseUrl: server.origin, retryOnStatus: [401, 403] })
    expect((await client.fetch('/418')).status).toBe(418)
    expect(server.hits).toHaveLength(1)
    expect((await client.fetch('/403')).status).toBe(403)
    expect(server.hits).toHaveLength(3)
  })

  it('refuses another origin before any I/O, with CrossOriginError', async () => {
    const other = await startApiServer()
    const client = makeClient()
    for (const target of [other.url('/steal'), `${api.origin}@127.0.0.1:1/x`, new URL(other.url('/u'))]) {
      const error = await client.fetch(target).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(CrossOriginError)
      expect((error as CrossOriginError).origin).not.toBe(api.origin)
    }
    await expect(client.fetch(new Request(other.url('/r')))).rejects.toBeInstanceOf(CrossOriginError)
    expect(other.hits).toHaveLength(0)
    expect(api.hits).toHaveLength(0)
  })

  it('sends the token to allowedOrigins too', async () => {
    const other = await startApiServer()
    const client = makeClient({ allowedOrigins: [`${other.origin}/ignored/path`] })
    expect((await client.fetch(other.url('/ok'))).status).toBe(200)
    expect((await client.fetch('/ok')).status).toBe(200)
    expect(bearerOf(other.hits[0]!)).toBe(auth.issued[0])
  })

  it.each([
    ['Authorization', undefined],
    ['x-api-key', (headers: Headers, token: string) => headers.set('x-api-key', token)],
  ])('never lets %s follow a redirect to another origin', async (header, authorize) => {
    const elsewhere = await startServer((_, response) => json(response, 200, { landed: true }))
    const redirector = await startServer((hit, response) => {
      const status = Number(new URL(hit.path, 'http://x').searchParams.get('status') ?? 302)
      response.writeHead(status, { location: elsewhere.url('/landing') })
      response.end()
    })
    const client = makeClient({ baseUrl: redirector.origin, ...(authorize ? { authorize } : {}) })
    for (const status of [301, 302, 303, 307, 308]) {
      const response = await client.fetch(`/go?status=${status}`, { method: 'POST', body: 'b' })
      expect(response.status).toBe(200)
      expect(response.redirected).toBe(true)
      expect(response.url).toBe(elsewhere.url('/landing'))
    }
    expect(redirector.hits.every((hit) => hit.headers[header.toLowerCase()] !== undefined)).toBe(true)
    expect(elsewhere.hits).toHaveLength(5)
    for (const hit of elsewhere.hits) {
      expect(hit.headers.authorization).toBeUndefined()
      expect(hit.headers['x-api-key']).toBeUndefined()
    }
    expect(elsewhere.hits.map((hit) => hit.method)).toEqual(['GET', 'GET', 'GET', 'POST', 'POST'])
    expect(elsewhere.hits.map((hit) => hit.body.toString())).toEqual(['', '', '', 'b', 'b'])
  })

  it('drops the credentials the platform drops on a redirect to another origin: Cookie, Proxy-Authorization, Authorization', async () => {
    const elsewhere = await startServer((_, response) => json(response, 200, {}))
    const redirector = await startServer((_, response) => {
      response.writeHead(302, { location: elsewhere.url('/landing') })
      response.end()
    })
    const client = makeClient({
      baseUrl: redirector.origin,
      headers: { cookie: 'session=SECRET', 'x-trace': 'kept' },
      authorize: (headers, token) => headers.set('x-api-key', token),
    })
    await client.fetch('/go', {
      headers: { 'proxy-authorization': 'Basic cHJveHk=', authorization: 'Basic dXNlcjpwdw==' },
    })
    expect(redirector.hits[0]?.headers.cookie).toBe('session=SECRET')
    const landed = elsewhere.hits[0]?.headers ?? {}
    expect([landed.cookie, landed['proxy-authorization'], landed.authorization, landed['x-api-key']]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ])
    expect(landed['x-trace']).toBe('kept')
  })

  it('does not mark a 3xx without Location as redirected', async () => {
    const server = await startServer((_, response) => {
      response.writeHead(302)
      response.end()
    })
    const response = await makeClient({ baseUrl: server.origin }).fetch('/x')
    expect([response.status, response.redirected]).toEqual([302, false])
  })

  it('keeps the token on a same-origin redirect', async () => {
    const server = await startServer((hit, response) => {
      if (hit.path === '/old') {
        response.writeHead(307, { location: '/new' })
        return void response.end()
      }
      json(response, 200, { token: bearerOf(hit) !== undefined })
    })
    const client = makeClient({ baseUrl: server.origin })
    expect(await (await client.fetch('/old')).json()).toEqual({ token: true })
  })

  it('leaves the caller redirect mode alone when it is not follow', async () => {
    const server = await startServer((_, response) => {
      response.writeHead(302, { location: 'http://127.0.0.1:1/' })
      response.end()
    })
    const client = makeClient({ baseUrl: server.origin })
    const response = await client.fetch('/x', { redirect: 'manual' })
    expect(response.status).toBe(302)
  })

  it('sends the body of init over that of a Request, as new Request(request, init) would', async () => {
    const client = makeClient()
    const request = new Request(api.url('/r'), { method: 'POST', body: 'old', headers: { 'x-r': '1' } })
    await client.fetch(request, { body: 'new' })
    await client.fetch(new Request(api.url('/r'), { method: 'POST' }), { body: 'hello' })
    expect(api.hits.map((hit) => [hit.method, hit.body.toString(), hit.headers['x-r']])).toEqual([
      ['POST', 'new', '1'],
      ['POST', 'hello', undefined],
    ])
    expect(request.bodyUsed).toBe(false)
  })

  it('reads headers of any Headers implementation, not only the global one', async () => {
    const { Headers: UndiciHeaders } = await import('undici')
    const client = makeClient({ headers: { 'x-static': 's' } })
    await client.fetch('/h', { headers: new UndiciHeaders({ 'x-lib': 'undici' }) as unknown as Headers })
    expect([api.hits[0]?.headers['x-lib'], api.hits[0]?.headers['x-static']]).toEqual(['undici', 's'])
  })

  it('replays an async iterable body (a Node Readable) after a 401', async () => {
    const { Readable } = await import('node:stream')
    const client = makeClient()
    await revokeCurrent(client)
    const body = Readable.from([Buffer.from('part one,'), Buffer.from('part two')])
    const response = await client.fetch('/upload', {
      method: 'POST',
      body: body as never,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(200)
    expect(api.hits.map((hit) => hit.body.toString())).toEqual(['part one,part two', 'part one,part two'])
  })

  it('makes no provider when its construction fails', () => {
    let calls = 0
    const timers = pendingTimers()
    expect(
      () =>
        new RefreshingClient({
          baseUrl: api.origin,
          headers: { 'bad header name': 'x' },
          tokens: {
            initialToken: { accessToken: 'a', expiresIn: 1 },
            fetchToken: async () => {
              calls++
              return 'b'
            },
          },
        }),
    ).toThrow(TypeError)
    // A provider made before the throw would have armed its refresh timer.
    expect(pendingTimers()).toBe(timers)
    expect(calls).toBe(0)
  })

  it('never mutates the caller init, its headers or its Request', async () => {
    const client = makeClient({ headers: { 'x-agent': 'a' } })
    await revokeCurrent(client)
    const headers = new Headers({ 'x-request': '1' })
    const init: RequestInit = { method: 'POST', headers, body: 'payload' }
    const snapshot = { ...init, headers: [...headers] }
    await client.fetch('/a', init)
    expect({ ...init, headers: [...headers] }).toEqual(snapshot)
    expect(init.headers).toBe(headers)
    const plain = { 'x-plain': '1' }
    const plainInit = { headers: plain }
    await client.fetch('/b', plainInit)
    expect(plainInit).toEqual({ headers: { 'x-plain': '1' } })
    const request = new Request(api.url('/c'), { method: 'PUT', body: 'r', headers: { 'x-r': '1' } })
    await client.fetch(request)
    expect([...request.headers]).toEqual([
      ['content-type', 'text/plain;charset=UTF-8'],
      ['x-r', '1'],
    ])
    expect(request.bodyUsed).toBe(false)
  })

  it('puts static headers first, per-request headers next, and the token last', async () => {
    const client = makeClient({ headers: { 'x-agent': 'static', 'x-both': 'static', authorization: 'nope' } })
    await client.fetch('/a', { headers: { 'X-Both': 'request', Authorization: 'also nope' } })
    await client.fetch('/b', { headers: new Headers({ 'x-both': 'headers' }) })
    await client.fetch('/c', { headers: [['x-both', 'array']] })
    const [a, b, c] = api.hits as [(typeof api.hits)[0], (typeof api.hits)[0], (typeof api.hits)[0]]
    expect([a.headers['x-agent'], a.headers['x-both'], bearerOf(a)]).toEqual(['static', 'request', auth.issued[0]])
    expect([b.headers['x-both'], c.headers['x-both'], c.headers['x-agent']]).toEqual(['headers', 'array', 'static'])
  })

  it('honours the caller signal while waiting for the token, the request and the replay', async () => {
    const stalled = new RefreshingClient({
      tokens: { fetchToken: () => new Promise(() => {}) },
      baseUrl: api.origin,
    })
    onTestFinished(() => stalled.dispose())
    const waiting = stalled.fetch('/a', { signal: AbortSignal.timeout(50) })
    await expect(waiting).rejects.toMatchObject({ name: 'TimeoutError' })
    const slow = await startServer((_, response) => {
      setTimeout(() => json(response, 200, {}), 2_000)
    })
    const client = makeClient({ baseUrl: slow.origin })
    const controller = new AbortController()
    const request = client.fetch('/slow', { signal: controller.signal })
    setTimeout(() => controller.abort(), 50)
    await expect(request).rejects.toMatchObject({ name: 'AbortError' })
    // The replay: the 401's refresh hangs, and the caller's signal ends the wait.
    const hanging = createTokenProvider({ initialToken: await mint(), fetchToken: () => new Promise(() => {}) })
    onTestFinished(() => hanging.dispose())
    const replaying = makeClient({ tokens: hanging })
    api.alwaysUnauthorized = true
    await expect(replaying.fetch('/x', { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({
      name: 'TimeoutError',
    })
  })

  it('works as the fetch of ky and of other fetch-based clients', async () => {
    const client = makeClient()
    await revokeCurrent(client)
    const viaKy = await ky
      .create({ baseUrl: api.origin, fetch: client.fetch })
      .post('json', { json: { a: 1 } })
      .json<{ sha256: string; contentType: string }>()
    expect(viaKy.contentType).toBe('application/json')
    // A minimal SDK that takes `fetch` as an option, as OpenAI's and others do.
    const sdk = (options: { fetch: typeof fetch; baseURL: string }) => ({
      get: async (path: string) => (await options.fetch(`${options.baseURL}${path}`)).json(),
    })
    expect(await sdk({ fetch: client.fetch, baseURL: api.origin }).get('/models')).toMatchObject({ path: '/models' })
    expect(api.hits.map((hit) => hit.path)).toEqual(['/json', '/json', '/models'])
  })

  it('gives client.ky the baseUrl and the user ky options, and keeps ky retries for 5xx separate', async () => {
    let failures = 1
    const server = await startServer((hit, response) => {
      if (hit.path === '/api/flaky' && failures-- > 0) return json(response, 503, {})
      json(response, 200, { path: hit.path })
    })
    const client = makeClient({
      baseUrl: `${server.origin}/api/`,
      ky: { retry: { limit: 2, delay: () => 0 }, headers: { 'x-ky': 'yes' } },
    })
    expect(client.ky).toBe(client.ky)
    expect(await client.ky.get('flaky').json()).toEqual({ path: '/api/flaky' })
    expect(server.hits.map((hit) => [hit.path, hit.headers['x-ky'], bearerOf(hit) !== undefined])).toEqual([
      ['/api/flaky', 'yes', true],
      ['/api/flaky', 'yes', true],
    ])
  })

  it('resolves relative URLs against baseUrl', async () => {
    const client = makeClient({ baseUrl: `${api.origin}/v2/` })
    await client.fetch('items')
    await client.fetch('/root')
    await client.fetch(new URL('/u', api.origin))
    expect(api.hits.map((hit) => hit.path)).toEqual(['/v2/items', '/root', '/u'])
  })
})

describe('RefreshingClient lifecycle', () => {
  it('requires baseUrl or allowedOrigins, and validates its options', () => {
    const tokens = { initialToken: 'x' }
    expect(() => new RefreshingClient({ tokens })).toThrow(TypeError)
    expect(() => new RefreshingClient({ tokens, allowedOrigins: [] })).toThrow(/baseUrl or allowedOrigins/)
    expect(() => new RefreshingClient({ tokens, baseUrl: 'ftp://x' })).toThrow('baseUrl must use http or https')
    expect(() => new RefreshingClient({ tokens, baseUrl: 'not a url' })).toThrow('baseUrl must contain')
    expect(() => new RefreshingClient({ tokens, allowedOrigins: 'http://x' as never })).toThrow(TypeError)
    expect(() => new RefreshingClient({ tokens, baseUrl: 'http://x', retryOnStatus: [200] })).toThrow(RangeError)
    expect(() => new RefreshingClient({ tokens, baseUrl: 'http://x', authorize: 1 as never })).toThrow(TypeError)
    expect(() => new RefreshingClient({ tokens, baseUrl: 'http://x', fetch: 1 as never })).toThrow(TypeError)
    expect(() => new RefreshingClient(null as never)).toThrow(TypeError)
  })

  it('disposes a provider it made, never one passed in, and refuses calls afterwards', async () => {
    const shared: TokenProvider = createTokenProvider({ initialToken: 'x' })
    const borrowing = new RefreshingClient({ tokens: shared, baseUrl: api.origin })
    const owning = new RefreshingClient({ tokens: { initialToken: 'y' }, baseUrl: api.origin })
    borrowing.dispose()
    owning[Symbol.dispose]()
    owning.dispose()
    expect(shared.state).toBe('fresh')
    expect(owning.tokens.state).toBe('disposed')
    await expect(borrowing.fetch('/a')).rejects.toBeInstanceOf(DisposedError)
    expect(() => borrowing.ky).toThrow(DisposedError)
    expect(() => borrowing.on('retry', () => {})).toThrow(DisposedError)
    shared.dispose()
    expect(api.hits).toHaveLength(0)
  })

  it('never shows the token when inspected, serialised or stringified', async () => {
    const client = makeClient()
    const token = await client.tokens.getToken()
    for (const text of [String(client), JSON.stringify(client), inspect(client, { showHidden: true, depth: 20 })]) {
      expect(text).not.toContain(token)
    }
    expect(JSON.parse(JSON.stringify(client))).toEqual({ origins: [api.origin], disposed: false })
  })

  it('types its events', () => {
    const client = makeClient()
    client.on('unauthorized', (event) =>
      expectTypeOf(event).toEqualTypeOf<{ url: string; status: number; retried: boolean }>(),
    )
    client.on('retry', (event) => expectTypeOf(event).toEqualTypeOf<{ url: string }>())
  })
})
