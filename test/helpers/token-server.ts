import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mint } from './jwt.js'
import { trackServer } from './servers.js'

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
}

/** What to answer: a status, headers and a body (objects are sent as JSON), or nothing at all. */
export type Reply = { status?: number; headers?: Record<string, string>; body?: unknown } | 'hang'

export type Handler = (hit: Hit) => Reply | Promise<Reply>

/** A real OAuth2 token endpoint on 127.0.0.1 for the tests: records every hit, answers with `handler`. */
export interface TokenServer {
  readonly tokenUrl: string
  readonly hits: Hit[]
  /** Replaces the handler and forgets the hits. */
  reset(handler?: Handler): void
  close(): Promise<void>
}

/** issueToken is the default handler: a fresh HS256 JWT for one hour, in an RFC 6749 §5.1 answer. */
export const issueToken: Handler = async () => ({
  body: { access_token: await mint(), token_type: 'Bearer', expires_in: 3600 },
})

/** startTokenServer listens on 127.0.0.1 on a free port. */
export async function startTokenServer(handler: Handler = issueToken): Promise<TokenServer> {
  let current = handler
  const hits: Hit[] = []
  const hanging = new Set<ServerResponse>()
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const hit: Hit = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body,
        form: new URLSearchParams(body),
        at: performance.now(),
      }
      hits.push(hit)
      Promise.resolve(current(hit)).then(
        (reply) => send(response, reply, hanging),
        (error: unknown) =>
          send(response, { status: 500, body: { error: 'server_error', error_description: String(error) } }, hanging),
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const untrack = trackServer(server)
  const { port } = server.address() as AddressInfo
  return {
    tokenUrl: `http://127.0.0.1:${port}/oauth2/token`,
    hits,
    reset(next = issueToken) {
      current = next
      hits.length = 0
    },
    async close() {
      untrack()
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
    },
  }
}

function send(response: ServerResponse, reply: Reply, hanging: Set<ServerResponse>): void {
  if (reply === 'hang') {
    hanging.add(response)
    response.on('close', () => hanging.delete(response))
    return
  }
  const { status = 200, headers = {}, body } = reply
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  const type = typeof body === 'string' ? 'text/plain' : 'application/json'
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers })
  response.end(text)
}
