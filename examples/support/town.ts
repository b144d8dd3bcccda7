// A small "town" for the examples and the demo: a token issuer, an OAuth2 token endpoint and an
// agent API on 127.0.0.1, with real jose-signed JWTs and per-agent authorization (the API accepts
// agent X's calls only with a token whose `sub` is X, or the container's token with the header
// `x-agent-id: X`). Nothing here is part of the library.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jwtVerify, SignJWT } from 'jose'

/** The town's signing secret (HS256); a real issuer would use asymmetric keys. */
export const townSecret = new TextEncoder().encode('the town signing secret, 32 bytes or more')

/** What the town counts. */
export interface TownStats {
  issued: number
  accepted: number
  refused: number
}

/** A running town. */
export interface Town {
  /** The agent API, e.g. `${api}/agents/a/heartbeat`. */
  readonly api: string
  /** POST `${issuer}/agents/:id/token` → `{ token }`. */
  readonly issuer: string
  /** An RFC 6749 token endpoint (client credentials: `svc` / `s3cret`). */
  readonly tokenUrl: string
  readonly stats: TownStats
  /** Mints a token for `sub` directly (for pushes and the naive agent). */
  mint(sub: string, lifetimeS?: number): Promise<string>
  /** A fetchToken-style function for one agent, over HTTP. */
  tokenFor(agent: string): () => Promise<string>
  close(): Promise<void>
}

let jti = 0

/** startTown starts the town's servers on random loopback ports. */
export async function startTown(options: { lifetimeS?: number } = {}): Promise<Town> {
  const lifetimeS = options.lifetimeS ?? 3
  const stats: TownStats = { issued: 0, accepted: 0, refused: 0 }
  const mint = (sub: string, lifetime = lifetimeS) => {
    stats.issued++
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({ jti: `j${++jti}` })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetime)
      .sign(townSecret)
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => send(response, 500, { error: 'town error' }))
  })
  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await read(request)
    const path = new URL(request.url ?? '/', 'http://town').pathname
    const issue = /^\/issuer\/agents\/([^/]+)\/token$/.exec(path)
    if (issue && request.method === 'POST') return send(response, 200, { token: await mint(issue[1] as string) })
    if (path === '/oauth/token' && request.method === 'POST') {
      const form = new URLSearchParams(body)
      const basic = Buffer.from('svc:s3cret').toString('base64')
      if (form.get('grant_type') !== 'client_credentials' || request.headers.authorization !== `Basic ${basic}`) {
        return send(response, 401, { error: 'invalid_client' })
      }
      return send(response, 200, { access_token: await mint('svc', 60), token_type: 'Bearer', expires_in: 60 })
    }
    const agent = /^\/api\/agents\/([^/]+)\//.exec(path)?.[1]
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
    const claims = token === undefined ? undefined : await jwtVerify(token, townSecret).catch(() => undefined)
    const sub = claims?.payload.sub
    const allowed =
      agent !== undefined && (sub === agent || (sub === 'container' && request.headers['x-agent-id'] === agent))
    if (!allowed) {
      stats.refused++
      return send(response, 401, { error: 'not this agent' })
    }
    stats.accepted++
    send(response, 200, { ok: true, agent, path })
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    api: `${origin}/api`,
    issuer: `${origin}/issuer`,
    tokenUrl: `${origin}/oauth/token`,
    stats,
    mint,
    tokenFor: (agent) => async () => {
      const response = await fetch(`${origin}/issuer/agents/${agent}/token`, { method: 'POST' })
      return ((await response.json()) as { token: string }).token
    },
    close: () => close(server),
  }
}

function read(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => {
      text += chunk
    })
    request.on('end', () => resolve(text))
    request.on('error', reject)
  })
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

function close(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}
