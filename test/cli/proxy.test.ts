import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { mint } from '../helpers/jwt.js'
import { type ApiServer, startApiServer } from '../helpers/servers.js'
import { startTokenServer, type TokenServer } from '../helpers/token-server.js'
import { type RunningProxy, runCli, startCliProxy } from './helpers.js'

const secret = 'cli client secret, never printed'

/** The upstream: the test API server, which echoes what it got, streams events, or answers slowly. */
function startUpstream(): Promise<ApiServer> {
  return startApiServer({
    challenge: 'Bearer error="invalid_token"',
    async handler(hit, response) {
      const path = new URL(hit.path, 'http://x').pathname
      if (path === '/mcp/events') {
        // Server-sent events: one every 300 ms, each flushed as it is written.
        hit.status = 200
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
        for (let i = 1; i <= 8; i++) {
          response.write(`data: ${i} ${Date.now()}\n\n`)
          await new Promise((resolve) => setTimeout(resolve, 300))
        }
        response.end()
        return
      }
      if (path === '/mcp/slow') await new Promise((resolve) => setTimeout(resolve, 1_500))
      if (path === '/mcp/redirect') {
        hit.status = 302
        response.writeHead(302, { location: '/mcp/echo?from=redirect' })
        response.end()
        return
      }
      hit.status = 200
      response.writeHead(200, {
        'content-type': 'application/json',
        'x-upstream': 'yes',
        'set-cookie': ['a=1; Path=/', 'b=2; Path=/'],
      })
      response.end(
        JSON.stringify({
          method: hit.method,
          path: hit.path,
          sha256: createHash('sha256').update(hit.body).digest('hex'),
          length: hit.body.length,
        }),
      )
    },
  })
}

/** A request through node:http, which (unlike fetch) may send hop-by-hop and Proxy- headers. */
function send(
  url: string,
  headers: Record<string, string>,
  seen?: (headers: IncomingMessage['headers']) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { headers }, (response) => {
      seen?.(response.headers)
      response.resume()
      response.on('end', () => resolve(response.statusCode ?? 0))
    })
    outgoing.on('error', reject)
    outgoing.end()
  })
}

let upstream: ApiServer
let tokens: TokenServer
let proxy: RunningProxy

const sourceArgs = () => ['--token-url', tokens.tokenUrl, '--client-id', 'agent', '--client-secret-env', 'AGENT_SECRET']
const env = { AGENT_SECRET: secret }

beforeAll(async () => {
  upstream = await startUpstream()
  tokens = await startTokenServer(async () => ({
    body: { access_token: await mint({ sub: 'agent', lifetimeMs: 3_600_000 }), token_type: 'Bearer', expires_in: 3600 },
  }))
  proxy = await startCliProxy(['--upstream', `${upstream.origin}/mcp`, '--log', 'json', ...sourceArgs()], env)
})

afterAll(async () => {
  expect(await proxy.stop()).toBe(0)
  // Nothing it printed holds the token, the secret or the client id's credentials.
  for (const output of [proxy.stdout(), proxy.stderr()]) {
    expect(output).not.toContain(secret)
    for (const token of tokens.issued) expect(output).not.toContain(token)
  }
  await tokens.close()
  await upstream.close()
})

afterEach(() => {
  upstream.hits.length = 0
  upstream.revoked.clear()
})

describe('refreshing-client proxy', () => {
  it('forwards a request under the upstream path with a fresh token, and the answer back', async () => {
    const response = await fetch(`${proxy.url}/echo?q=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-custom': 'kept' },
      body: 'hello body',
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('x-upstream')).toBe('yes')
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/'])
    expect(await response.json()).toEqual({
      method: 'POST',
      path: '/mcp/echo?q=1',
      sha256: createHash('sha256').update('hello body').digest('hex'),
      length: 10,
    })
    const [hit] = upstream.hits
    expect(hit?.token).toBe(tokens.issued.at(-1))
    expect(hit?.headers['x-custom']).toBe('kept')
  })

  it('drops hop-by-hop headers and those the Connection header names', async () => {
    const status = await send(`${proxy.url}/echo`, {
      connection: 'keep-alive, x-drop',
      'x-drop': '1',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'x-kept': '1',
    })
    expect(status).toBe(200)
    const headers = upstream.hits[0]?.headers ?? {}
    expect([headers['x-drop'], headers['keep-alive'], headers['te'], headers['x-kept']]).toEqual([
      undefined,
      undefined,
      undefined,
      '1',
    ])
  })

  it.each([
    ['/', '/mcp'],
    ['/?a=b', '/mcp?a=b'],
    ['/x/y', '/mcp/x/y'],
  ])('maps %s to %s', async (path, upstreamPath) => {
    await fetch(proxy.url + path)
    expect(upstream.hits.map((hit) => hit.path)).toEqual([upstreamPath])
  })

  it('sends nothing to another origin or outside the path, whatever the request line or Host say', async () => {
    const raw = (requestLine: string, host: string) =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(proxy.url)
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write(`${requestLine}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
        })
        let text = ''
        socket.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk
        })
        socket.on('end', () => resolve(text.split('\r\n')[0] as string))
        socket.on('error', reject)
      })
    expect(await raw('GET http://evil.example/steal HTTP/1.1', 'evil.example')).toBe('HTTP/1.1 200 OK')
    expect(await raw('GET /x HTTP/1.1', 'evil.example')).toBe('HTTP/1.1 200 OK')
    expect(await raw('GET //evil.example/y HTTP/1.1', '127.0.0.1')).toBe('HTTP/1.1 200 OK')
    expect(await raw('GET /../admin HTTP/1.1', '127.0.0.1')).toBe('HTTP/1.1 400 Bad Request')
    expect(await raw('GET /%2e%2e/admin HTTP/1.1', '127.0.0.1')).toBe('HTTP/1.1 400 Bad Request')
    expect(upstream.hits.map((hit) => hit.path)).toEqual(['/mcp/steal', '/mcp/x', '/mcp//evil.example/y'])
  })

  it('replays once on a 401 with a refreshed token, the body byte for byte', async () => {
    upstream.revoked.add(tokens.issued.at(-1) as string)
    const before = tokens.hits.length
    const body = 'x'.repeat(100_000)
    const response = await fetch(`${proxy.url}/echo`, { method: 'PUT', body })
    expect(response.status).toBe(200)
    expect(((await response.json()) as { sha256: string }).sha256).toBe(createHash('sha256').update(body).digest('hex'))
    expect(upstream.hits.map((hit) => hit.status)).toEqual([401, 200])
    expect(tokens.hits.length - before).toBe(1)
    // The log line is written once the answer has been sent: wait for it.
    const logged = () =>
      proxy
        .stderr()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    while (logged().at(-1)?.['method'] !== 'PUT') await new Promise((resolve) => setTimeout(resolve, 10))
    const lines = logged()
    expect(lines.at(-1)).toMatchObject({ method: 'PUT', path: '/echo', status: 200, replayed: true })
    expect(typeof lines.at(-1)?.['ms']).toBe('number')
  })

  it('streams an event stream as it comes, in order', async () => {
    const started = Date.now()
    const response = await fetch(`${proxy.url}/events`)
    const reader = (response.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>)
      .getReader()
    const arrivals: [number, number][] = []
    let text = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += value
      for (const match of value.matchAll(/data: (\d+) /g)) arrivals.push([Number(match[1]), Date.now() - started])
    }
    expect(arrivals.map(([n]) => n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    // The first event arrives long before the stream ends (8 events, 300 ms apart).
    expect((arrivals[0] as [number, number])[1]).toBeLessThan((arrivals[7] as [number, number])[1] - 1_500)
    expect(text.match(/data:/g)).toHaveLength(8)
  })

  it('passes a redirect within the upstream back as a path on the proxy', async () => {
    const response = await fetch(`${proxy.url}/redirect`, { redirect: 'manual' })
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe('/echo?from=redirect')
  })

  it('works with curl', async () => {
    const output = await new Promise<string>((resolve, reject) =>
      execFile('curl', ['-sS', '-X', 'POST', '--data-binary', 'from curl', `${proxy.url}/echo`], (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    )
    expect(JSON.parse(output)).toMatchObject({ method: 'POST', path: '/mcp/echo', length: 9 })
  })
})

describe('refreshing-client proxy, safety', () => {
  it('refuses to listen beyond loopback without a local secret (exit 2)', async () => {
    const { code, stdout, stderr } = await runCli(
      ['proxy', '--upstream', `${upstream.origin}/mcp`, '--listen', '0.0.0.0:0', ...sourceArgs()],
      env,
    )
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(
      /^refreshing-client: --listen 0\.0\.0\.0:0 is not a loopback address: .*add --local-token-env NAME\n/,
    )
  })

  it('asks every client for the local secret when one is set (407), and never forwards it', async () => {
    const local = await startCliProxy(
      [
        '--upstream',
        `${upstream.origin}/mcp`,
        '--local-token-env',
        'LOCAL',
        '--listen',
        '127.0.0.1:0',
        ...sourceArgs(),
      ],
      { ...env, LOCAL: 'local-secret' },
    )
    try {
      // fetch() turns a 407 into a network error (the fetch standard), so node:http asks here.
      let challenge: string | string[] | undefined
      expect(await send(`${local.url}/echo`, {}, (headers) => (challenge = headers['proxy-authenticate']))).toBe(407)
      expect(challenge).toBe('Bearer realm="refreshing-client"')
      expect(await send(`${local.url}/echo`, { 'proxy-authorization': 'Bearer wrong' })).toBe(407)
      expect(upstream.hits).toEqual([])
      expect(await send(`${local.url}/echo`, { 'proxy-authorization': 'Bearer local-secret' })).toBe(200)
      expect(upstream.hits.map((hit) => hit.headers['proxy-authorization'])).toEqual([undefined])
    } finally {
      expect(await local.stop()).toBe(0)
    }
    expect(local.stdout() + local.stderr()).not.toContain('local-secret')
  })

  it('drains a request in flight on SIGTERM, then exits 0', async () => {
    const draining = await startCliProxy(['--upstream', `${upstream.origin}/mcp`, ...sourceArgs()], env)
    const slow = fetch(`${draining.url}/slow`).then((response) => response.status)
    while (!upstream.hits.some((hit) => hit.path === '/mcp/slow')) await new Promise((r) => setTimeout(r, 20))
    const exit = draining.stop('SIGTERM')
    expect(await slow).toBe(200)
    expect(await exit).toBe(0)
  })

  it.each([
    [
      ['proxy', '--client-secret', 'x'],
      /--client-secret would put a secret in the command line.*--client-secret-env NAME/,
    ],
    [
      ['token', '--refresh-token=abc'],
      /--refresh-token would put a secret in the command line.*--refresh-token-env NAME/,
    ],
    [['proxy', '--token-url', 'http://127.0.0.1:9/t'], /--upstream is required/],
    [['token', '--token-url', 'http://127.0.0.1:9/t'], /--client-id is required/],
    [
      ['token', '--token-url', 'http://127.0.0.1:9/t', '--client-id', 'a', '--client-secret-env', 'NOPE'],
      /NOPE is not set/,
    ],
    [
      ['token', '--issuer', 'https://a', '--token-url', 'https://b', '--client-id', 'a'],
      /choose one of --token-url, --issuer/,
    ],
    [['token', '--token-file', '/x', '--format', 'xml'], /--format takes raw, header or json/],
    [['token', '--bogus'], /Unknown option '--bogus'/],
    [['launch'], /unknown command "launch"/],
    [[], /a command is required/],
  ])('exits 2 on bad usage: %j', async (args, message) => {
    const { code, stdout, stderr } = await runCli(args)
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(message)
    expect(stderr).not.toContain('abc')
  })
})

describe('refreshing-client token', () => {
  it.each([
    ['raw', (token: string) => `${token}\n`],
    ['header', (token: string) => `{"Authorization":"Bearer ${token}"}\n`],
  ])('prints one fresh token (--format %s) and nothing else', async (format, expected) => {
    const before = tokens.hits.length
    const { code, stdout, stderr } = await runCli(['token', ...sourceArgs(), '--format', format], env)
    expect([code, stderr]).toEqual([0, ''])
    expect(stdout).toBe(expected(tokens.issued.at(-1) as string))
    expect(tokens.hits.length - before).toBe(1)
  })

  it('shares one token among 20 concurrent invocations through --store: at most 2 token requests', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rc-cli-store-'))
    try {
      const before = tokens.hits.length
      const store = join(dir, 'tokens.json')
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => runCli(['token', ...sourceArgs(), '--store', store], env)),
      )
      expect(runs.map((r) => [r.code, r.stderr])).toEqual(Array(20).fill([0, '']))
      expect(tokens.hits.length - before).toBeLessThanOrEqual(2)
      expect(new Set(runs.map((r) => r.stdout)).size).toBeLessThanOrEqual(tokens.hits.length - before)
      // A later invocation reuses the stored token: no request at all.
      const later = await runCli(['token', ...sourceArgs(), '--store', store], env)
      expect(later.code).toBe(0)
      expect(runs.map((r) => r.stdout)).toContain(later.stdout)
      expect(tokens.hits.length - before).toBeLessThanOrEqual(2)
      const mode = (await stat(store)).mode & 0o777
      expect(mode).toBe(0o600)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('prints JSON with the expiry, never the refresh token', async () => {
    const endpoint = await startTokenServer(async () => ({
      body: { access_token: 'opaque-access', refresh_token: 'the-next-refresh-token', expires_in: 60 },
    }))
    try {
      const { code, stdout } = await runCli(
        [
          'token',
          '--token-url',
          endpoint.tokenUrl,
          '--client-id',
          'a',
          '--refresh-token-env',
          'RT',
          '--format',
          'json',
        ],
        { RT: 'rt-1\n' },
      )
      expect(code).toBe(0)
      const printed = JSON.parse(stdout) as Record<string, unknown>
      expect(Object.keys(printed)).toEqual(['accessToken', 'tokenType', 'expiresAt'])
      expect(printed['accessToken']).toBe('opaque-access')
      expect(stdout).not.toContain('the-next-refresh-token')
      expect(endpoint.hits.map((hit) => hit.form.get('refresh_token'))).toEqual(['rt-1'])
    } finally {
      await endpoint.close()
    }
  })

  it('exits 1 with a token-free message when the endpoint refuses the client', async () => {
    const endpoint = await startTokenServer(() => ({ status: 401, body: { error: 'invalid_client' } }))
    try {
      const { code, stdout, stderr } = await runCli(
        ['token', '--token-url', endpoint.tokenUrl, '--client-id', 'a', '--client-secret-env', 'S'],
        { S: secret },
      )
      expect(code).toBe(1)
      expect(stdout).toBe('')
      expect(stderr).toMatch(/invalid_client/)
      expect(stderr).not.toContain(secret)
    } finally {
      await endpoint.close()
    }
  })
})
