import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import { mint } from './jwt.js'
import { listen, readBody } from './listen.js'

/** One request the server received. */
export interface Hit {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** The raw body, as sent. */
  body: string
  form: URLSearchParams
  /** performance.now() when the request arrived (real time, for gaps between retries). */
  at: number
  /** Whether the client went away before an answer (a hang that the client timed out or aborted). */
  abandoned: boolean
}

/**
 * What to answer: a status, headers and a body (objects are sent as JSON), or nothing at all
 * (`hang`, until the server closes), or a connection destroyed without a word (`reset`).
 */
export type Reply = { status?: number; headers?: Record<string, string>; body?: unknown } | 'hang' | 'reset'

export type Handler = (hit: Hit) => Reply | Promise<Reply>

/** The one OAuth2 token endpoint of the tests, on 127.0.0.1: records every hit, answers with `handler`. */
export interface TokenServer {
  readonly origin: string
  readonly tokenUrl: string
  readonly hits: Hit[]
  /** Every `access_token` it answered with, in order. */
  readonly issued: string[]
  /** How many requests it received since the last reset. */
  calls(): number
  /** A `fetchToken` for a provider: POSTs to `tokenUrl` and returns the `access_token`. */
  fetchToken(context: { signal: AbortSignal }): Promise<string>
  /** Replaces the handler and forgets the hits. */
  reset(handler?: Handler): void
  close(): Promise<void>
}

/** issueToken is the default handler: a fresh HS256 JWT for one hour, in an RFC 6749 §5.1 answer. */
export const issueToken: Handler = async () => ({
  body: { access_token: await mint(), token_type: 'Bearer', expires_in: 3600 },
})

/** startTokenServer listens on 127.0.0.1 on a free port (closed when the test finishes, see `listen`). */
export async function startTokenServer(handler: Handler = issueToken): Promise<TokenServer> {
  let current = handler
  const hits: Hit[] = []
  const issued: string[] = []
  const server = createServer(async (request, response) => {
    const body = (await readBody(request)).toString('utf8')
    const hit: Hit = {
      method: request.method ?? '',
      path: request.url ?? '',
      headers: request.headers,
      body,
      form: new URLSearchParams(body),
      at: performance.now(),
      abandoned: false,
    }
    hits.push(hit)
    response.on('close', () => {
      if (!response.writableFinished) hit.abandoned = true
    })
    Promise.resolve()
      .then(() => current(hit))
      .then(
        (reply) => send(response, reply, issued),
        (error: unknown) =>
          send(response, { status: 500, body: { error: 'server_error', error_description: String(error) } }, issued),
      )
  })
  const { origin, close } = await listen(server)
  const tokenUrl = `${origin}/oauth2/token`
  return {
    origin,
    tokenUrl,
    hits,
    issued,
    calls: () => hits.length,
    async fetchToken({ signal }) {
      const response = await fetch(tokenUrl, { method: 'POST', signal })
      return ((await response.json()) as { access_token: string }).access_token
    },
    reset(next = issueToken) {
      current = next
      hits.length = 0
    },
    close,
  }
}

function send(response: ServerResponse, reply: Reply, issued: string[]): void {
  if (reply === 'hang') return
  if (reply === 'reset') {
    response.socket?.destroy()
    return
  }
  const { status = 200, headers = {}, body } = reply
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  const type = typeof body === 'string' ? 'text/plain' : 'application/json'
  const token = (body as { access_token?: unknown } | undefined)?.access_token
  if (status < 300 && typeof token === 'string') issued.push(token)
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers })
  response.end(text)
}
