import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jwtVerify, SignJWT } from 'jose'
import { testSecret } from './jwt.js'
import { trackServer } from './servers.js'

// Fault-injecting servers on 127.0.0.1 for the reliability tests: a token endpoint (RFC 6749
// answers) and an API, each answering request by request from a script of faults, on a clock the
// test controls (the same clock the provider under test is given).

/** A clock the test moves: `set` freezes it at a time, `jump` moves it, `run` lets it follow real time. */
export interface TestClock {
  readonly now: () => number
  /** Freezes the clock at `at` (epoch ms). */
  set(at: number): void
  /** Moves the clock by `ms`, frozen or running. */
  jump(ms: number): void
  /** Lets the clock advance with real time from where it stands (backoff timers need that). */
  run(): void
}

/** testClock starts frozen at `start`. */
export function testClock(start: number): TestClock {
  let base = start
  let since: number | undefined
  const now = () => (since === undefined ? base : base + (Date.now() - since))
  return {
    now,
    set(at) {
      base = at
      since = undefined
    },
    jump(ms) {
      base += ms
    },
    run() {
      base = now()
      since = Date.now()
    },
  }
}

/**
 * What the token endpoint does with one request:
 * - `ok`: a fresh HS256 JWT for the client (its `client_id` is the `sub`);
 * - `500`, `503`: an RFC 6749 error body with that status;
 * - `hang`: never answers (the connection is destroyed when the server closes);
 * - `reset`: destroys the connection without a word;
 * - `malformed`: 200 with JSON cut short;
 * - `expired`: a JWT that expired one lifetime ago;
 * - `same`: the token it issued last, again;
 * - `other-subject`: a fresh JWT for another subject (`intruder`).
 */
export type TokenFault = 'ok' | 500 | 503 | 'hang' | 'reset' | 'malformed' | 'expired' | 'same' | 'other-subject'

/** One request the token endpoint received. */
export interface TokenHit {
  clientId: string | undefined
  fault: TokenFault
  /** Whether the client went away before an answer (a hang that the client timed out or aborted). */
  abandoned: boolean
}

export interface FaultyTokenServerOptions {
  /** The issuer's clock, before `skewMs`. */
  now: () => number
  /** Token lifetime. @default one hour */
  lifetimeMs?: number
  /** How far the issuer's clock is ahead (positive) or behind (negative) `now`. @default 0 */
  skewMs?: number
  /** Send `expires_in` with `ok` tokens (the expiry is then relative to receipt). @default true */
  expiresIn?: boolean
}

export interface FaultyTokenServer {
  readonly tokenUrl: string
  readonly hits: TokenHit[]
  /** Every token issued, in order. */
  readonly issued: string[]
  /** Faults to play, one per request, in order; then `fallback`. */
  readonly script: TokenFault[]
  fallback: TokenFault
  close(): Promise<void>
}

let serial = 0

/** startFaultyTokenServer serves `POST /oauth2/token` with the next fault of its script. */
export async function startFaultyTokenServer(options: FaultyTokenServerOptions): Promise<FaultyTokenServer> {
  const { now, lifetimeMs = 3_600_000, skewMs = 0, expiresIn = true } = options
  const hits: TokenHit[] = []
  const issued: string[] = []
  const script: TokenFault[] = []
  const open = new Set<ServerResponse>()
  const state = { fallback: 'ok' as TokenFault }

  const sign = (sub: string, issuedAt: number) => {
    const iat = Math.floor(issuedAt / 1000)
    return new SignJWT({ jti: `f${++serial}` })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.round(lifetimeMs / 1000))
      .sign(testSecret)
  }

  const answer = async (hit: TokenHit, response: ServerResponse): Promise<void> => {
    const sub = hit.clientId ?? 'unknown'
    const issuerNow = now() + skewMs
    switch (hit.fault) {
      case 500:
        return send(response, 500, { error: 'server_error' })
      case 503:
        return send(response, 503, { error: 'temporarily_unavailable' })
      case 'hang':
        return
      case 'reset':
        response.socket?.destroy()
        return
      case 'malformed':
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end('{"access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi')
        return
      case 'expired': {
        const token = await sign(sub, issuerNow - 2 * lifetimeMs)
        issued.push(token)
        return send(response, 200, { access_token: token, token_type: 'Bearer' })
      }
      case 'same': {
        const token = issued.at(-1) ?? (await sign(sub, issuerNow))
        return send(response, 200, tokenBody(token))
      }
      default: {
        const token = await sign(hit.fault === 'other-subject' ? 'intruder' : sub, issuerNow)
        issued.push(token)
        return send(response, 200, tokenBody(token))
      }
    }
  }
  const tokenBody = (token: string) => ({
    access_token: token,
    token_type: 'Bearer',
    ...(expiresIn ? { expires_in: Math.round(lifetimeMs / 1000) } : {}),
  })

  const server = createServer((request, response) => {
    readBody(request).then((body) => {
      const hit: TokenHit = {
        clientId: clientIdOf(request, body),
        fault: script.shift() ?? state.fallback,
        abandoned: false,
      }
      hits.push(hit)
      open.add(response)
      response.on('close', () => {
        open.delete(response)
        if (!response.writableFinished) hit.abandoned = true
      })
      answer(hit, response).catch(() => response.destroy())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const untrack = trackServer(server)
  const { port } = server.address() as AddressInfo
  return {
    tokenUrl: `http://127.0.0.1:${port}/oauth2/token`,
    hits,
    issued,
    script,
    get fallback() {
      return state.fallback
    },
    set fallback(fault: TokenFault) {
      state.fallback = fault
    },
    async close() {
      untrack()
      for (const response of open) response.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** What the API does with one request, before it checks the token. */
export type ApiFault = 'ok' | 500 | 'reset'

/** One request the API received. */
export interface ApiHit {
  method: string
  path: string
  token: string | undefined
  status: number
}

export interface FaultyApiServer {
  readonly origin: string
  readonly hits: ApiHit[]
  /** Tokens refused with 401 before their `exp`. */
  readonly revoked: Set<string>
  readonly script: ApiFault[]
  close(): Promise<void>
}

/**
 * startFaultyApiServer answers `/agents/<id>/…` with 200 when the bearer JWT verifies on `now`
 * (signature, `exp`), names `<id>` as its `sub` and is not revoked; otherwise 401.
 */
export async function startFaultyApiServer(options: { now: () => number }): Promise<FaultyApiServer> {
  const hits: ApiHit[] = []
  const revoked = new Set<string>()
  const script: ApiFault[] = []
  const server = createServer((request, response) => {
    readBody(request).then(async () => {
      const path = request.url ?? '/'
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
      const fault = script.shift() ?? 'ok'
      if (fault === 'reset') {
        hits.push({ method: request.method ?? '', path, token, status: 0 })
        response.socket?.destroy()
        return
      }
      const agent = /^\/agents\/([^/]+)\//.exec(path)?.[1]
      const valid =
        token !== undefined &&
        !revoked.has(token) &&
        (await jwtVerify(token, testSecret, { currentDate: new Date(options.now()) }).then(
          ({ payload }) => payload.sub === agent,
          () => false,
        ))
      const status = fault === 500 ? 500 : valid ? 200 : 401
      hits.push({ method: request.method ?? '', path, token, status })
      send(response, status, status === 200 ? { ok: true } : { error: status === 401 ? 'unauthorized' : 'boom' })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const untrack = trackServer(server)
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    revoked,
    script,
    async close() {
      untrack()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  response.end(JSON.stringify(body))
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', () => resolve(''))
  })
}

// client_secret_basic: the id is the form-encoded user part of the Basic credentials.
function clientIdOf(request: IncomingMessage, body: string): string | undefined {
  const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1]
  if (basic !== undefined) {
    const user = Buffer.from(basic, 'base64').toString('utf8').split(':')[0] ?? ''
    return decodeURIComponent(user.replaceAll('+', ' '))
  }
  return new URLSearchParams(body).get('client_id') ?? undefined
}
