// A stand-in for a hosted API (OpenAI-style chat completions, a small REST resource) and its token
// endpoint, on 127.0.0.1: bearer JWTs only, and a revocation switch to show the one replay.
// Nothing here is part of the library.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jwtVerify, SignJWT } from 'jose'

const secret = new TextEncoder().encode('the fake API signing secret, 32 bytes or more')

/** A running fake API. */
export interface FakeApi {
  /** The API's base URL, e.g. `${url}/v1/chat/completions`. */
  readonly url: string
  /** Its token endpoint (client credentials; any client). */
  readonly tokenUrl: string
  readonly stats: { tokenRequests: number; refused: number; served: number }
  /** Refuses every token issued so far. */
  revokeAll(): void
  close(): Promise<void>
}

/** startFakeApi listens on a random loopback port. */
export async function startFakeApi(): Promise<FakeApi> {
  const stats = { tokenRequests: 0, refused: 0, served: 0 }
  let serial = 0
  let revokedBefore = 0
  const json = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body))
  }
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    for await (const _ of request); // drain the body
    if (request.method === 'POST' && request.url === '/token') {
      stats.tokenRequests++
      const jwt = await new SignJWT({ n: ++serial, jti: `f${serial}` })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(secret)
      return json(response, 200, { access_token: jwt, token_type: 'Bearer', expires_in: 3600 })
    }
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? ''
    const claims = await jwtVerify(token, secret).then(
      ({ payload }) => payload,
      () => undefined,
    )
    if (claims === undefined || Number(claims['n']) <= revokedBefore) {
      stats.refused++
      response.setHeader('www-authenticate', 'Bearer error="invalid_token"')
      return json(response, 401, { error: { message: 'invalid token', type: 'invalid_request_error' } })
    }
    stats.served++
    if (request.url === '/v1/chat/completions') {
      return json(response, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: 'fake-1',
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'pong' } }],
      })
    }
    if (request.url === '/pets/1') return json(response, 200, { id: 1, name: 'Rex' })
    json(response, 404, { error: 'not found' })
  }
  const server = createServer((request, response) => void handle(request, response))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    tokenUrl: `${url}/token`,
    stats,
    revokeAll: () => {
      revokedBefore = serial
    },
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
