// The runtime matrix's servers, in the host's Node process, on 127.0.0.1: a token server that mints
// real ES256 JWTs, an API that verifies them (and can revoke one, to force a 401), and another
// origin that only reports which credentials reached it. Every request of a smoke run names its
// run (`/r/<run>/…`, or a subject `<run>.<name>`), so that runtimes can share the servers at once
// and each reads its own counts from `/stats?run=<run>`.
import { createServer } from 'node:http'
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose'

const audience = 'refreshing-client-smoke'

// Every answer carries CORS headers: the browser's page is served from yet another origin.
const cors = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, x-api-key',
  'access-control-max-age': '600',
}

/** startServers starts the three servers; `close()` stops them. */
export async function startServers() {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'smoke-1', alg: 'ES256', use: 'sig' }
  const counts = new Map()
  const count = (server, run, what) => {
    const key = `${server}:${run}`
    const entry = counts.get(key) ?? {}
    entry[what] = (entry[what] ?? 0) + 1
    counts.set(key, entry)
  }
  const stats = (server) => (request) => reply(200, counts.get(`${server}:${request.query.get('run')}`) ?? {})
  const revoked = new Set()
  let issuer = ''
  let sequence = 0

  const mint = (sub, ttl = 600) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
      .setSubject(sub)
      .setIssuer(issuer)
      .setAudience(audience)
      .setJti(`t${++sequence}`)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .sign(privateKey)

  const token = await listen('token', {
    'GET /jwks': () => reply(200, { keys: [jwk] }),
    'GET /stats': stats('token'),
    // A provider's fetchToken: {sub, ttl} as JSON.
    'POST /token': async (request) => {
      const { sub, ttl } = request.json()
      count('token', runOf(sub), 'token')
      return reply(200, { access_token: await mint(sub, ttl), token_type: 'Bearer', expires_in: ttl ?? 600 })
    },
    // OAuth2 client credentials (RFC 6749 §4.4): Basic authentication, a form body.
    'POST /oauth2/token': async (request) => {
      const [id, secret] = atob(request.headers.authorization?.replace(/^Basic /, '') ?? '').split(':')
      const form = new URLSearchParams(request.body)
      if (form.get('grant_type') !== 'client_credentials' || secret !== 'smoke-secret' || !id) {
        return reply(401, { error: 'invalid_client' })
      }
      count('token', runOf(decodeURIComponent(id)), 'grant')
      return reply(200, { access_token: await mint(decodeURIComponent(id)), token_type: 'Bearer', expires_in: 600 })
    },
    // A token for a push, as a control plane would mint it: {sub, ttl}.
    'POST /mint': async (request) => {
      const { sub, ttl } = request.json()
      count('token', runOf(sub), 'mint')
      return reply(200, { token: await mint(sub, ttl) })
    },
  })
  issuer = token.origin

  // The API: a valid token of the run's identities in `Authorization: Bearer` or `x-api-key`.
  const authorized = (handler) => async (request) => {
    const presented = request.headers['x-api-key'] ?? request.headers.authorization?.replace(/^Bearer /, '')
    count('api', request.run, request.route)
    if (presented === undefined) return reply(401, { error: 'no token' })
    let claims
    try {
      ;({ payload: claims } = await jwtVerify(presented, publicKey, { issuer, audience }))
    } catch {
      return reply(401, { error: 'invalid token' })
    }
    if (revoked.has(claims.jti)) return reply(401, { error: 'revoked token' })
    if (runOf(claims.sub) !== request.run) return reply(403, { error: 'token of another run' })
    return handler(request, claims)
  }
  const api = await listen('api', {
    'GET /stats': stats('api'),
    'POST /revoke': (request) => {
      revoked.add(decodeJwt(request.json().token).jti)
      return reply(204)
    },
    'GET /r/whoami': authorized((request, claims) => reply(200, whoami(request, claims))),
    'POST /r/whoami': authorized((request, claims) => reply(200, whoami(request, claims))),
    'POST /r/beat': authorized(() => reply(200, { ok: true })),
    'GET /r/redirect': authorized((request) => reply(302, null, { location: request.query.get('to') })),
  })

  // Another origin: it tells which credentials reached it.
  const other = await listen('other', {
    'GET /stats': stats('other'),
    'GET /r/echo': (request) => {
      count('other', request.run, 'echo')
      return reply(200, {
        authorization: request.headers.authorization !== undefined,
        apiKey: request.headers['x-api-key'] !== undefined,
      })
    },
  })

  return {
    tokenUrl: token.origin,
    apiUrl: api.origin,
    otherUrl: other.origin,
    issuer,
    audience,
    close: () => Promise.all([token.close(), api.close(), other.close()]),
  }
}

function whoami(request, claims) {
  return { sub: claims.sub, jti: claims.jti, method: request.method, body: request.body }
}

/** The run of an identity `<run>.<name>`. */
function runOf(sub) {
  return typeof sub === 'string' ? sub.split('.')[0] : undefined
}

function reply(status, body, headers = {}) {
  return { status, body, headers }
}

/**
 * listen serves `routes` ('METHOD /path'; `/r/<run>/<name>` matches the route `/r/<name>`) on
 * 127.0.0.1, on a free port.
 */
async function listen(name, routes) {
  const server = createServer((incoming, outgoing) => {
    const chunks = []
    incoming.on('data', (chunk) => chunks.push(chunk))
    incoming.on('end', async () => {
      const url = new URL(incoming.url ?? '/', 'http://127.0.0.1')
      const run = url.pathname.match(/^\/r\/([^/]+)\//)?.[1]
      const path = run === undefined ? url.pathname : url.pathname.replace(`/r/${run}/`, '/r/')
      const body = Buffer.concat(chunks).toString('utf8')
      const request = {
        method: incoming.method ?? 'GET',
        headers: incoming.headers,
        query: url.searchParams,
        run,
        route: path.slice(path.lastIndexOf('/') + 1),
        body,
        json: () => JSON.parse(body),
      }
      let answer
      try {
        const route = routes[`${request.method} ${path}`]
        if (request.method === 'OPTIONS') answer = reply(204)
        else if (route === undefined) answer = reply(404, { error: `${name}: no route ${request.method} ${path}` })
        else answer = await route(request)
      } catch (error) {
        answer = reply(500, { error: String(error) })
      }
      const json = answer.body !== undefined && answer.body !== null
      outgoing.writeHead(answer.status, {
        ...cors,
        ...(json ? { 'content-type': 'application/json' } : {}),
        ...answer.headers,
      })
      outgoing.end(json ? JSON.stringify(answer.body) : undefined)
    })
  })
  server.keepAliveTimeout = 1_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
