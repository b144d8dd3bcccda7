// The benchmarks' servers, run in their own process (forked with IPC) so that the client side is
// measured on its own core: keep-alive node:http servers on 127.0.0.1, one for
//   the API: answers 200 {"ok":true} to a valid, unrevoked bearer JWT, else 401;
//   the token endpoint (another port, as an auth server is another origin, so token calls never
//   queue behind API requests in a client's connection pool): POST /token mints a real HS256 JWT
//   valid for one hour.
// A JWT is verified with jose the first time it is seen and remembered, so that in the throughput
// benchmark the server stays cheap and the clients, not the server, are what is measured.
// The parent sends { id, type, ... } messages: mint, revoke, stats, reset. `connections` counts the
// API's new connections.
import { createServer } from 'node:http'
import { jwtVerify } from 'jose'
import { mint, secret } from './jwt.mjs'

const verified = new Map()
const revoked = new Set()
const counts = { tokenCalls: 0, apiHits: 0, ok: 0, unauthorized: 0, connections: 0 }

const okBody = Buffer.from('{"ok":true}')
const okHeaders = { 'content-type': 'application/json', 'content-length': okBody.length }
const deniedBody = Buffer.from('{"error":"unauthorized"}')
const deniedHeaders = { 'content-type': 'application/json', 'content-length': deniedBody.length }

function answer(response, allowed) {
  if (allowed) {
    counts.ok++
    response.writeHead(200, okHeaders)
    response.end(okBody)
  } else {
    counts.unauthorized++
    response.writeHead(401, deniedHeaders)
    response.end(deniedBody)
  }
}

async function verify(token) {
  try {
    const { payload } = await jwtVerify(token, secret)
    return payload.exp * 1000
  } catch {
    return 0
  }
}

const tokenServer = createServer((request, response) => {
  request.resume()
  if (request.method !== 'POST' || request.url !== '/token') {
    response.writeHead(404)
    response.end()
    return
  }
  counts.tokenCalls++
  mint().then((token) => {
    const body = JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 })
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    response.end(body)
  })
})

const apiServer = createServer((request, response) => {
  request.resume()
  counts.apiHits++
  const header = request.headers.authorization
  const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined
  if (token === undefined || revoked.has(token)) return answer(response, false)
  const exp = verified.get(token)
  if (exp !== undefined) return answer(response, Date.now() < exp)
  verify(token).then((verifiedExp) => {
    verified.set(token, verifiedExp)
    answer(response, Date.now() < verifiedExp)
  })
})
apiServer.on('connection', () => {
  counts.connections++
})
for (const server of [apiServer, tokenServer]) {
  server.keepAliveTimeout = 60_000
  server.headersTimeout = 65_000
  server.requestTimeout = 0
}

const handlers = {
  mint: async () => ({ token: await mint() }),
  revoke: async ({ token }) => {
    revoked.add(token)
    return {}
  },
  stats: async () => ({ ...counts }),
  reset: async () => {
    for (const key in counts) counts[key] = 0
    return {}
  },
}

process.on('message', (message) => {
  handlers[message.type](message).then((reply) => process.send({ id: message.id, ...reply }))
})
// The parent owns this process: when it goes, so do we.
process.on('disconnect', () => process.exit(0))

const listen = (server) =>
  new Promise((resolve) => {
    server.listen({ port: 0, host: '127.0.0.1', backlog: 16_384 }, () => resolve(server.address().port))
  })
const [apiPort, tokenPort] = await Promise.all([listen(apiServer), listen(tokenServer)])
process.send({ ready: true, origin: `http://127.0.0.1:${apiPort}`, tokenUrl: `http://127.0.0.1:${tokenPort}/token` })
