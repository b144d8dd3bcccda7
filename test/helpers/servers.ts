import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jwtVerify } from 'jose'
import { mint, testSecret } from './jwt.js'

/** What a test server saw of one request. */
export interface Hit {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: Buffer
}

/** A real `node:http` server on 127.0.0.1 with a random port. */
export interface TestServer {
  readonly origin: string
  readonly url: (path?: string) => string
  readonly hits: Hit[]
  close(): Promise<void>
}

type Handler = (request: Hit, response: ServerResponse) => void | Promise<void>

const servers = new Set<Server>()

/** startServer listens on 127.0.0.1:0 and records every request, with its whole body. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const hits: Hit[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const hit: Hit = {
        method: request.method ?? 'GET',
        path: request.url ?? '/',
        headers: request.headers,
        body: Buffer.concat(chunks),
      }
      hits.push(hit)
      Promise.resolve(handler(hit, response)).catch((error: unknown) => {
        response.statusCode = 500
        response.end(String(error))
      })
    })
  })
  server.keepAliveTimeout = 1_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.add(server)
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    url: (path = '/') => origin + path,
    hits,
    close: () => {
      servers.delete(server)
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** openServers counts servers not closed yet (for leak checks). */
export function openServers(): number {
  return servers.size
}

/** trackServer counts a server made elsewhere in {@link openServers} until the returned function is called. */
export function trackServer(server: Server): () => void {
  servers.add(server)
  return () => {
    servers.delete(server)
  }
}

/** json answers with a JSON body. */
export function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

/** A token endpoint that mints real HS256 JWTs and counts its calls. */
export interface TokenServer extends TestServer {
  readonly calls: () => number
  /** fetchToken for a provider: POST /token. */
  readonly fetchToken: (context: { signal: AbortSignal }) => Promise<string>
  /** Every token issued, in order. */
  readonly issued: string[]
}

/** startTokenServer serves `POST /token?sub=…` with a fresh JWT of `lifetimeMs`. */
export async function startTokenServer(options: { lifetimeMs?: number; sub?: string } = {}): Promise<TokenServer> {
  const issued: string[] = []
  const server = await startServer(async (hit, response) => {
    const sub = new URL(hit.path, 'http://x').searchParams.get('sub') ?? options.sub ?? 'agent'
    const token = await mint({ sub, lifetimeMs: options.lifetimeMs ?? 3_600_000 })
    issued.push(token)
    json(response, 200, { access_token: token })
  })
  return {
    ...server,
    issued,
    calls: () => server.hits.length,
    fetchToken: async ({ signal }) => {
      const response = await fetch(server.url('/token'), { method: 'POST', signal })
      return ((await response.json()) as { access_token: string }).access_token
    },
  }
}

/** An API that checks bearer JWTs with jose and can revoke tokens early. */
export interface ApiServer extends TestServer {
  /** Tokens refused with 401 before their `exp`. */
  readonly revoked: Set<string>
  /** When set, every request is refused with 401. */
  alwaysUnauthorized: boolean
}

/**
 * startApiServer answers 200 with a digest of what it received when the bearer token verifies
 * and is not revoked, else 401.
 */
export async function startApiServer(): Promise<ApiServer> {
  const state = { revoked: new Set<string>(), alwaysUnauthorized: false }
  const server = await startServer(async (hit, response) => {
    const token = /^Bearer (.+)$/.exec(hit.headers.authorization ?? '')?.[1]
    const ok =
      !state.alwaysUnauthorized &&
      token !== undefined &&
      !state.revoked.has(token) &&
      (await jwtVerify(token, testSecret).then(
        () => true,
        () => false,
      ))
    if (!ok) return json(response, 401, { error: 'unauthorized' })
    json(response, 200, {
      path: hit.path,
      method: hit.method,
      sha256: createHash('sha256').update(hit.body).digest('hex'),
      contentType: hit.headers['content-type'] ?? null,
    })
  })
  return {
    ...server,
    revoked: state.revoked,
    get alwaysUnauthorized() {
      return state.alwaysUnauthorized
    },
    set alwaysUnauthorized(value: boolean) {
      state.alwaysUnauthorized = value
    },
  }
}

/** bearerOf reads the token a hit carried. */
export function bearerOf(hit: Hit): string | undefined {
  return /^Bearer (.+)$/.exec(hit.headers.authorization ?? '')?.[1]
}
