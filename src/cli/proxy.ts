import { AsyncLocalStorage } from 'node:async_hooks'
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { RefreshingClient } from '../client/client.js'
import { isAuthError } from '../errors.js'
import { createTokenProvider } from '../token/create.js'
import type { Source } from './source.js'

/** ProxyOptions configure {@link startProxy}. */
export interface ProxyOptions {
  /** The one upstream: its origin receives the token, its path is the prefix of every request. */
  upstream: URL
  host: string
  port: number
  /** When set, every client must send `Proxy-Authorization: Bearer <localToken>`. */
  localToken?: string | undefined
  source: Source
  /** One JSON line per request, for operators; never a token or a query string. */
  log?: ((line: string) => void) | undefined
}

/** A running proxy. */
export interface Proxy {
  readonly url: string
  /** Stops accepting, lets requests in flight end (at most `drainMs`), then closes the rest. */
  close(drainMs?: number): Promise<void>
}

// RFC 9110 §7.6.1: what concerns one connection, never forwarded; `host` is the upstream's own.
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
])

/**
 * startProxy listens on `host:port` and forwards every request to the upstream through a
 * {@link RefreshingClient}: a fresh token on each, one replay on 401, bodies streamed both ways.
 */
export async function startProxy(options: ProxyOptions): Promise<Proxy> {
  const { upstream, source, log, localToken } = options
  const prefix = upstream.pathname.replace(/\/+$/, '')
  const sends = new AsyncLocalStorage<{ count: number }>()
  const tokens = createTokenProvider({ name: source.name, fetchToken: source.fetchToken })
  const client = new RefreshingClient({
    tokens,
    baseUrl: upstream.origin,
    // Counts the sends of each proxied request (a replay is a second one), for the log.
    fetch: (input, init) => {
      const store = sends.getStore()
      if (store !== undefined) store.count++
      return fetch(input, init)
    },
  })
  const inFlight = new Set<ServerResponse>()
  const expected = localToken === undefined ? undefined : Buffer.from(`Bearer ${localToken}`)

  const server: Server = createServer((request, response) => {
    inFlight.add(response)
    response.on('close', () => inFlight.delete(response))
    const started = performance.now()
    const state = { count: 0 }
    sends
      .run(state, () => forward(request, response))
      .catch(() => {
        if (!response.headersSent) answer(response, 502, 'refreshing-client: the upstream could not be reached')
        else response.destroy()
      })
      .finally(() => {
        log?.(
          JSON.stringify({
            method: request.method,
            path: new URL(request.url ?? '/', 'http://proxy').pathname,
            status: response.statusCode,
            ms: Math.round(performance.now() - started),
            replayed: state.count > 1,
          }),
        )
      })
  })

  async function forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (expected !== undefined && !matches(request.headers['proxy-authorization'], expected)) {
      response.setHeader('proxy-authenticate', 'Bearer realm="refreshing-client"')
      return answer(response, 407, 'refreshing-client: send Proxy-Authorization: Bearer <the local token>')
    }
    const target = targetOf(request.url ?? '/', upstream, prefix)
    if (target === undefined) return answer(response, 400, 'refreshing-client: the path is outside the upstream')
    const controller = new AbortController()
    response.on('close', () => {
      if (!response.writableFinished) controller.abort()
    })
    const method = request.method ?? 'GET'
    const hasBody = method !== 'GET' && method !== 'HEAD' && !isEmpty(request)
    const init: RequestInit & { duplex?: 'half' } = {
      method,
      headers: forwardedHeaders(request.headers),
      signal: controller.signal,
      redirect: 'manual',
      ...(hasBody ? { body: Readable.toWeb(request) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
    }
    let upstreamResponse: Response
    try {
      upstreamResponse = await client.fetch(target, init)
    } catch (error) {
      if (controller.signal.aborted) return
      // Our errors name what failed (a code, a URL), never a token or a secret.
      const code = isAuthError(error) ? error.code : 'ERR_UPSTREAM'
      const status = isAuthError(error) ? 503 : 502
      return answer(response, status, `refreshing-client: ${status === 503 ? 'no token' : 'upstream failed'} (${code})`)
    }
    response.writeHead(upstreamResponse.status, responseHeaders(upstreamResponse, upstream, prefix))
    // Event streams and chunked bodies go on as they come, a chunk at a time.
    response.flushHeaders()
    if (upstreamResponse.body === null) {
      response.end()
      return
    }
    for await (const chunk of upstreamResponse.body as unknown as AsyncIterable<Uint8Array>) {
      if (!response.write(chunk)) await new Promise((resolve) => response.once('drain', resolve))
    }
    response.end()
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    async close(drainMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const deadline = setTimeout(() => server.closeAllConnections(), drainMs)
      await closed
      clearTimeout(deadline)
      client.dispose()
      tokens.dispose()
    },
  }
}

/**
 * targetOf maps a request target onto the upstream: its path and query go under the upstream's path
 * prefix on the upstream's origin, whatever the request line or `Host` say. `undefined` when dot
 * segments would leave the prefix.
 */
export function targetOf(requestTarget: string, upstream: URL, prefix: string): URL | undefined {
  let path = requestTarget
  if (!path.startsWith('/')) {
    // The absolute form (`GET http://elsewhere/x`) keeps only its path and query.
    try {
      const absolute = new URL(requestTarget)
      path = absolute.pathname + absolute.search
    } catch {
      return undefined
    }
  }
  const joined = path === '/' || path.startsWith('/?') ? prefix + path.slice(1) : prefix + path
  const target = new URL(upstream.origin + (joined.startsWith('/') ? joined : `/${joined}`))
  if (target.origin !== upstream.origin) return undefined
  if (prefix !== '' && target.pathname !== prefix && !target.pathname.startsWith(`${prefix}/`)) return undefined
  return target
}

function forwardedHeaders(headers: IncomingMessage['headers']): Headers {
  const listed = connectionTokens(headers.connection)
  const forwarded = new Headers()
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || hopByHop.has(name) || listed.has(name)) continue
    for (const one of Array.isArray(value) ? value : [value]) forwarded.append(name, one)
  }
  return forwarded
}

function responseHeaders(response: Response, upstream: URL, prefix: string): Record<string, string | string[]> {
  const listed = connectionTokens(response.headers.get('connection') ?? undefined)
  // fetch has decoded a compressed body: its length and encoding no longer describe what we send.
  const decoded = response.headers.has('content-encoding')
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of response.headers) {
    if (hopByHop.has(name) || listed.has(name) || name === 'set-cookie') continue
    if (decoded && (name === 'content-encoding' || name === 'content-length')) continue
    headers[name] = value
  }
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  // A redirect within the upstream comes back through the proxy, path-relative, so the client stays here.
  const location = response.headers.get('location')
  if (location !== null) {
    const to = new URL(location, upstream)
    if (to.origin === upstream.origin && (to.pathname === prefix || to.pathname.startsWith(`${prefix}/`))) {
      headers['location'] = (to.pathname.slice(prefix.length) || '/') + to.search + to.hash
    }
  }
  return headers
}

function connectionTokens(value: string | undefined): Set<string> {
  return new Set((value ?? '').split(',').map((token) => token.trim().toLowerCase()))
}

function isEmpty(request: IncomingMessage): boolean {
  return (
    request.headers['content-length'] === '0' ||
    (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined)
  )
}

function matches(given: string | undefined, expected: Buffer): boolean {
  if (given === undefined) return false
  const bytes = Buffer.from(given)
  return bytes.length === expected.length && timingSafeEqual(bytes, expected)
}

function answer(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
  response.end(`${message}\n`)
}
