import { jwtVerify } from 'jose'
import { mint, testSecret } from './jwt.js'
import { type ApiHit, json, startApiServer } from './servers.js'
import { type Hit, startTokenServer } from './token-server.js'

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

/** startFaultyTokenServer serves `POST /oauth2/token` with the next fault of its script. */
export async function startFaultyTokenServer(options: FaultyTokenServerOptions): Promise<FaultyTokenServer> {
  const { now, lifetimeMs = 3_600_000, skewMs = 0, expiresIn = true } = options
  const hits: TokenHit[] = []
  const script: TokenFault[] = []
  const state = { fallback: 'ok' as TokenFault }
  const sign = (sub: string, issuedAt: number) => mint({ sub, issuedAt, lifetimeMs })
  const tokenBody = (token: string) => ({
    access_token: token,
    token_type: 'Bearer',
    ...(expiresIn ? { expires_in: Math.round(lifetimeMs / 1000) } : {}),
  })

  const server = await startTokenServer(async (request) => {
    const hit: TokenHit = {
      clientId: clientIdOf(request),
      fault: script.shift() ?? state.fallback,
      get abandoned() {
        return request.abandoned
      },
    }
    hits.push(hit)
    const sub = hit.clientId ?? 'unknown'
    const issuerNow = now() + skewMs
    switch (hit.fault) {
      case 500:
        return { status: 500, body: { error: 'server_error' } }
      case 503:
        return { status: 503, body: { error: 'temporarily_unavailable' } }
      case 'hang':
      case 'reset':
        return hit.fault
      case 'malformed':
        return {
          headers: { 'content-type': 'application/json' },
          body: '{"access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi',
        }
      case 'expired':
        return { body: { access_token: await sign(sub, issuerNow - 2 * lifetimeMs), token_type: 'Bearer' } }
      case 'same':
        return { body: tokenBody(server.issued.at(-1) ?? (await sign(sub, issuerNow))) }
      default:
        return { body: tokenBody(await sign(hit.fault === 'other-subject' ? 'intruder' : sub, issuerNow)) }
    }
  })
  return {
    tokenUrl: server.tokenUrl,
    hits,
    issued: server.issued,
    script,
    get fallback() {
      return state.fallback
    },
    set fallback(fault: TokenFault) {
      state.fallback = fault
    },
    close: server.close,
  }
}

/** What the API does with one request, before it checks the token. */
export type ApiFault = 'ok' | 500 | 'reset'

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
  const script: ApiFault[] = []
  const server = await startApiServer({
    intercept(hit, response) {
      const fault = script.shift() ?? 'ok'
      if (fault === 'reset') response.socket?.destroy()
      if (fault === 500) {
        hit.status = 500
        json(response, 500, { error: 'boom' })
      }
      return fault !== 'ok'
    },
    verify: (token, hit) =>
      jwtVerify(token, testSecret, { currentDate: new Date(options.now()) }).then(
        ({ payload }) => payload.sub === /^\/agents\/([^/]+)\//.exec(hit.path)?.[1],
        () => false,
      ),
    handler(hit, response) {
      hit.status = 200
      json(response, 200, { ok: true })
    },
  })
  return { origin: server.origin, hits: server.hits, revoked: server.revoked, script, close: server.close }
}

// client_secret_basic: the id is the form-encoded user part of the Basic credentials.
function clientIdOf(hit: Hit): string | undefined {
  const basic = /^Basic (.+)$/.exec(hit.headers.authorization ?? '')?.[1]
  if (basic !== undefined) {
    const user = Buffer.from(basic, 'base64').toString('utf8').split(':')[0] ?? ''
    return decodeURIComponent(user.replaceAll('+', ' '))
  }
  return hit.form.get('client_id') ?? undefined
}
