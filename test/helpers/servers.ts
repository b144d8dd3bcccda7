import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { jwtVerify } from 'jose'
import { testSecret } from './jwt.js'
import { listen, readBody } from './listen.js'

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

/** startServer listens on 127.0.0.1:0 and records every request, with its whole body. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const hits: Hit[] = []
  const server = createServer(async (request, response) => {
    const hit: Hit = {
      method: request.method ?? 'GET',
      path: request.url ?? '/',
      headers: request.headers,
      body: await readBody(request),
    }
    hits.push(hit)
    // A handler that throws, at once or later, answers 500 rather than failing the test run.
    Promise.resolve()
      .then(() => handler(hit, response))
      .catch((error: unknown) => {
        response.statusCode = 500
        response.end(String(error))
      })
  })
  server.keepAliveTimeout = 1_000
  const { origin, close } = await listen(server)
  return { origin, url: (path = '/') => origin + path, hits, close }
}

/** json answers with a JSON body. */
export function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

/** What the API server saw of one request: the bearer token it carried and the status it got. */
export interface ApiHit extends Hit {
  token: string | undefined
  /** The status answered; 0 until the handler sets it. */
  status: number
}

/** An API that checks bearer JWTs with jose and can revoke tokens early. */
export interface ApiServer extends TestServer {
  readonly hits: ApiHit[]
  /** Tokens refused with 401 before their `exp`. */
  readonly revoked: Set<string>
  /** When set, every request is refused with 401. */
  alwaysUnauthorized: boolean
}

export interface ApiServerOptions {
  /**
   * Answers a request whose token verified, and sets `hit.status`.
   * @default 200 with a digest of what it received (path, method, body sha256, content type)
   */
  handler?: (hit: ApiHit, response: ServerResponse) => void | Promise<void>
  /** The `WWW-Authenticate` header of a 401. @default none */
  challenge?: string
  /** Whether a bearer token is good. @default its HS256 signature and `exp` verify with jose */
  verify?: (token: string, hit: ApiHit) => Promise<boolean>
  /** Sees each request first and may answer it itself (a fault), returning true. */
  intercept?: (hit: ApiHit, response: ServerResponse) => boolean
}

const verifyJwt = (token: string) =>
  jwtVerify(token, testSecret).then(
    () => true,
    () => false,
  )

/** digest answers 200 with what a request carried: path, method, the sha256 of its body, its content type. */
function digest(hit: ApiHit, response: ServerResponse): void {
  hit.status = 200
  json(response, 200, {
    path: hit.path,
    method: hit.method,
    sha256: createHash('sha256').update(hit.body).digest('hex'),
    contentType: hit.headers['content-type'] ?? null,
  })
}

/**
 * startApiServer answers with `options.handler` when the bearer token verifies and is not revoked,
 * else 401.
 */
export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const { handler = digest, challenge, verify = verifyJwt, intercept } = options
  const state = { revoked: new Set<string>(), alwaysUnauthorized: false }
  const server = await startServer(async (request, response) => {
    const hit = request as ApiHit
    hit.token = bearerOf(hit)
    hit.status = 0
    if (intercept?.(hit, response) === true) return
    const ok =
      !state.alwaysUnauthorized &&
      hit.token !== undefined &&
      !state.revoked.has(hit.token) &&
      (await verify(hit.token, hit))
    if (ok) return handler(hit, response)
    hit.status = 401
    if (challenge !== undefined) response.setHeader('www-authenticate', challenge)
    json(response, 401, { error: 'unauthorized' })
  })
  return {
    ...server,
    hits: server.hits as ApiHit[],
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
