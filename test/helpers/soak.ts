import { decodeJwt, UnsecuredJWT } from 'jose'
import { expect, vi } from 'vitest'
import {
  clientCredentials,
  getGlobalRegistry,
  type RefreshingClient,
  type Scope,
  type TokenReason,
  type TokenRegistry,
} from '../../src/index.js'
import { pendingTimers } from '../../src/internal/timer.js'

// A soak of the whole library on fake timers: agents (scopes of the global registry) with a
// heartbeat every 30 s and tool calls at random, for days of simulated time, while the token
// endpoint goes down on a schedule and the API revokes tokens in a burst. The network is a stub
// `fetch` that routes to in-process handlers (no sockets), and tokens are unsigned JWTs made
// synchronously with jose's `UnsecuredJWT`: a WebCrypto signature settles in real time, which the
// fake clock would race. The API decodes what it gets and checks `sub`, `exp` and revocation.
// `Math.random` is replaced by a seeded generator, so a run is reproducible from its seed.

const second = 1_000
const minute = 60 * second
const hour = 60 * minute
const day = 24 * hour

/** The start of every soak, on whole seconds. */
export const soakStart = Date.UTC(2026, 0, 1)
const tokenOrigin = 'https://auth.soak.test'
const apiOrigin = 'https://api.soak.test'
/** The provider counts a token as expired this long before its `exp` (the default clock skew). */
const skewMs = 30 * second

export interface SoakOptions {
  /** Lifetime of every token. */
  lifetimeMs: number
  /** Simulated days, at least 2. */
  days: number
  agents?: number
  seed?: number
}

/** A window in which the token endpoint fails: what it does, and when. */
export interface Outage {
  name: string
  start: number
  end: number
  /** The fault at `at`, inside the window. */
  fault(at: number): 'unavailable' | 'reset' | 'hang'
}

/** The schedule of faults of a run, in epoch ms. */
export interface SoakSchedule {
  end: number
  outages: Outage[]
  /** When the API revokes every agent's current token. */
  revokeAt: number
}

/** One request that failed, as the caller saw it. */
export interface SoakFailure {
  agent: string
  kind: 'beat' | 'tool'
  at: number
  /** How long the caller waited (tool calls; heartbeats time out on their own). */
  waitedMs: number | undefined
  status: number | undefined
  error: unknown
  /** Whether the agent held a token that was still valid (before `exp` − skew, not rejected). */
  validToken: boolean
}

export interface SoakReport {
  options: Required<SoakOptions>
  schedule: SoakSchedule
  realMs: number
  beats: { ok: number; failed: number }
  tools: { ok: number; failed: number }
  failures: SoakFailure[]
  /** Per agent: when its first token (the initial one) was issued. */
  firstIssuedAt: Map<string, number>
  /** Per agent: each token installed, with the reason, on the simulated clock. */
  tokens: Map<string, { at: number; reason: TokenReason }[]>
  /** Per agent: failed refresh attempts. */
  refreshErrors: Map<string, { at: number; error: unknown }[]>
  /** Requests the token endpoint answered, by outcome. */
  tokenRequests: Record<'ok' | 'unavailable' | 'reset' | 'hang', number>
  /** API answers: 401s by reason. */
  api: { ok: number; unauthorized: Record<'revoked' | 'expired' | 'wrongAgent' | 'missing', number> }
  retries: number
  unauthorizedEvents: number
  /** After dispose: fake timers, library timers, scopes left. */
  leftAfterDispose: { fakeTimers: number; libraryTimers: number; scopes: number }
}

/** mulberry32: a small seeded PRNG with uniform output in [0, 1). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * soakSchedule places the faults of a run, while the agents' refresh points are still a fifth of
 * an interval apart:
 * - a burst of revocations 5 s after a refresh of agent 0, at about 15% of the run: every agent then
 *   meets its revoked token (on its next heartbeat, at most 33 s away) before it would have
 *   refreshed anyway; each refreshes at once, so from then on they refresh within 33 s of each other;
 * - a 20-minute outage around the next common refresh point after 30% of the run (10 minutes of
 *   503s, then 10 of reset connections): every agent's refresh fails in it while its token is still
 *   valid, and with tokens of an hour or less the token also expires in it;
 * - an outage longer than a token's lifetime at 60% (503s, then hangs, then resets), so every
 *   agent's token expires in it.
 */
export function soakSchedule(lifetimeMs: number, days: number): SoakSchedule {
  const at = (fraction: number) => soakStart + Math.round((fraction * days * day) / minute) * minute
  const interval = 0.8 * lifetimeMs
  const revokeAt = soakStart + Math.ceil((at(0.15) - soakStart) / interval) * interval + 5 * second
  const short = revokeAt + Math.ceil((at(0.3) - revokeAt) / interval) * interval - Math.min(5 * minute, interval / 2)
  const long = at(0.6)
  const longEnd = long + lifetimeMs + 20 * minute
  const third = (longEnd - long) / 3
  return {
    end: soakStart + days * day,
    revokeAt,
    outages: [
      {
        name: '20-minute outage',
        start: short,
        end: short + 20 * minute,
        fault: (t) => (t < short + 10 * minute ? 'unavailable' : 'reset'),
      },
      {
        name: 'outage past expiry',
        start: long,
        end: longEnd,
        fault: (t) => (t < long + third ? 'unavailable' : t < long + 2 * third ? 'hang' : 'reset'),
      },
    ],
  }
}

/**
 * expectedRefreshes applies the schedule rule to one agent: with jitter off, a token issued at `iat`
 * is refreshed at `iat + 0.8 × lifetime`; a refresh point inside an outage succeeds when it ends; a
 * revoked token is replaced when the burst happens. Returns the number of tokens fetched.
 */
export function expectedRefreshes(firstIssuedAt: number, lifetimeMs: number, schedule: SoakSchedule): number {
  let issuedAt = firstIssuedAt
  let count = 0
  let revoked = false
  for (;;) {
    const next = issuedAt + 0.8 * lifetimeMs
    if (!revoked && schedule.revokeAt < next && schedule.revokeAt < schedule.end) {
      revoked = true
      count++
      issuedAt = schedule.revokeAt
      continue
    }
    if (next >= schedule.end) return count
    const outage = schedule.outages.find((o) => o.start <= next && next < o.end)
    count++
    issuedAt = outage === undefined ? next : outage.end
  }
}

interface Agent {
  id: string
  scope: Scope
  client: RefreshingClient
  firstIssuedAt: number
}

/** runSoak runs one soak and reports what happened. It installs and removes fake timers itself. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const resolved: Required<SoakOptions> = { agents: 5, seed: 20_260_101, ...options }
  const { lifetimeMs, days, agents: agentCount, seed } = resolved
  const schedule = soakSchedule(lifetimeMs, days)
  const realStart = performance.now()
  vi.useFakeTimers({ now: soakStart, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
  const report: SoakReport = {
    options: resolved,
    schedule,
    realMs: 0,
    beats: { ok: 0, failed: 0 },
    tools: { ok: 0, failed: 0 },
    failures: [],
    firstIssuedAt: new Map(),
    tokens: new Map(),
    refreshErrors: new Map(),
    tokenRequests: { ok: 0, unavailable: 0, reset: 0, hang: 0 },
    api: { ok: 0, unauthorized: { revoked: 0, expired: 0, wrongAgent: 0, missing: 0 } },
    retries: 0,
    unauthorizedEvents: 0,
    leftAfterDispose: { fakeTimers: -1, libraryTimers: -1, scopes: -1 },
  }
  const random = seeded(seed)
  let registry: TokenRegistry | undefined
  try {
    vi.spyOn(Math, 'random').mockImplementation(random)
    const revoked = new Set<string>()
    let serial = 0
    const mint = (sub: string, issuedAt: number) =>
      new UnsecuredJWT({ sub, jti: `s${++serial}` })
        .setIssuedAt(Math.floor(issuedAt / second))
        .setExpirationTime(Math.floor(issuedAt / second) + lifetimeMs / second)
        .encode()

    const tokenEndpoint = (request: Request): Response | Promise<Response> => {
      const now = Date.now()
      const fault = schedule.outages.find((o) => o.start <= now && now < o.end)?.fault(now) ?? 'ok'
      report.tokenRequests[fault]++
      if (fault === 'reset') throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })
      if (fault === 'hang') {
        return new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason)))
      }
      if (fault === 'unavailable') return Response.json({ error: 'temporarily_unavailable' }, { status: 503 })
      const basic = (request.headers.get('authorization') ?? '').slice('Basic '.length)
      const clientId = atob(basic).split(':')[0] as string
      return Response.json({ access_token: mint(clientId, now), token_type: 'Bearer', expires_in: lifetimeMs / second })
    }

    const api = (url: URL, authorization: string | null): Response => {
      const agent = /^\/agents\/([^/]+)\//.exec(url.pathname)?.[1]
      const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined
      let refusal: keyof SoakReport['api']['unauthorized'] | undefined
      if (token === undefined) refusal = 'missing'
      else if (revoked.has(token)) refusal = 'revoked'
      else {
        const claims = decodeJwt(token)
        if (claims.sub !== agent) refusal = 'wrongAgent'
        else if ((claims.exp as number) * second <= Date.now()) refusal = 'expired'
      }
      if (refusal !== undefined) {
        report.api.unauthorized[refusal]++
        return Response.json({ error: 'unauthorized' }, { status: 401 })
      }
      report.api.ok++
      return url.pathname.endsWith('/heartbeat') ? new Response(null, { status: 204 }) : Response.json({ ok: true })
    }

    const network: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : undefined
      const url = new URL(request?.url ?? String(input))
      const signal = init?.signal ?? request?.signal
      signal?.throwIfAborted()
      if (url.origin === tokenOrigin) return tokenEndpoint(request ?? new Request(url, init))
      if (url.origin !== apiOrigin) throw new TypeError(`no route to ${url.origin}`)
      const headers = init?.headers ?? request?.headers
      const authorization =
        headers instanceof Headers
          ? headers.get('authorization')
          : ((headers as Record<string, string> | undefined)?.['authorization'] ?? null)
      return api(url, authorization)
    }

    registry = getGlobalRegistry()
    const agents: Agent[] = []
    for (let i = 0; i < agentCount; i++) {
      const id = `agent-${i}`
      // Staggered phases: agent i's first token was issued i fifths of a refresh interval ago.
      const firstIssuedAt = soakStart - Math.round((i * 0.8 * lifetimeMs) / agentCount / second) * second
      const scope = registry.scope(id, {
        initialToken: mint(id, firstIssuedAt),
        fetchToken: clientCredentials({
          tokenUrl: `${tokenOrigin}/oauth2/token`,
          clientId: id,
          clientSecret: `${id} secret`,
          fetch: network,
        }),
        expectedClaims: { sub: id },
        refreshJitterRatio: 0,
      })
      const client = scope.client({ baseUrl: apiOrigin, fetch: network, ky: { timeout: 30 * second, retry: 0 } })
      agents.push({ id, scope, client, firstIssuedAt })
      report.firstIssuedAt.set(id, firstIssuedAt)
      const installed: { at: number; reason: TokenReason }[] = []
      const errors: { at: number; error: unknown }[] = []
      report.tokens.set(id, installed)
      report.refreshErrors.set(id, errors)
      scope.tokens.on('token', ({ reason }) => installed.push({ at: Date.now(), reason }))
      scope.tokens.on('error', ({ error }) => errors.push({ at: Date.now(), error }))
      client.on('retry', () => report.retries++)
      client.on('unauthorized', () => report.unauthorizedEvents++)

      const validToken = () => {
        const current = scope.tokens.current
        return (
          current !== undefined &&
          !revoked.has(current.accessToken) &&
          Date.now() < (current.expiresAt ?? Number.POSITIVE_INFINITY) - skewMs
        )
      }
      const heartbeat = scope.heartbeat({ url: `${apiOrigin}/agents/${id}/heartbeat`, intervalMs: 30 * second, client })
      heartbeat.on('beat', ({ ok }) => {
        if (ok) report.beats.ok++
      })
      heartbeat.on('failure', ({ status, error }) => {
        report.beats.failed++
        report.failures.push({
          agent: id,
          kind: 'beat',
          at: Date.now(),
          waitedMs: undefined,
          status,
          error,
          validToken: validToken(),
        })
      })

      // Tool calls at random, 30 s to 10 min apart, alternately through `fetch` and through `ky`.
      let calls = 0
      let pending: ReturnType<typeof setTimeout> | undefined
      const callTool = async () => {
        const startedAt = Date.now()
        const viaKy = calls++ % 2 === 1
        try {
          if (viaKy) await client.ky.post(`agents/${id}/tools/search`, { json: { q: calls } }).json()
          else {
            const response = await client.fetch(`/agents/${id}/tools/run`, { method: 'POST', body: '{}' })
            await response.body?.cancel()
            if (!response.ok) throw Object.assign(new Error(`status ${response.status}`), { status: response.status })
          }
          report.tools.ok++
        } catch (error) {
          report.tools.failed++
          report.failures.push({
            agent: id,
            kind: 'tool',
            at: Date.now(),
            waitedMs: Date.now() - startedAt,
            status: (error as { status?: number }).status ?? (error as { response?: Response }).response?.status,
            error,
            validToken: validToken(),
          })
        }
      }
      const next = () => {
        pending = setTimeout(
          () => {
            void callTool()
            next()
          },
          30 * second + Math.floor(random() * 9.5 * minute),
        )
      }
      next()
      scope.add(() => clearTimeout(pending))
    }

    // The burst: the API refuses every agent's current token from now on, long before its `exp`.
    setTimeout(() => {
      for (const agent of agents) {
        const current = agent.scope.tokens.current
        if (current !== undefined) revoked.add(current.accessToken)
      }
    }, schedule.revokeAt - soakStart)

    while (Date.now() < schedule.end) {
      await vi.advanceTimersByTimeAsync(Math.min(hour, schedule.end - Date.now()))
    }

    registry.dispose()
    await vi.advanceTimersByTimeAsync(0)
    report.leftAfterDispose = {
      fakeTimers: vi.getTimerCount(),
      libraryTimers: pendingTimers(),
      scopes: registry.size,
    }
  } finally {
    // Also when the run throws: nothing of it may outlive the test.
    registry?.dispose()
    vi.clearAllTimers()
    vi.useRealTimers()
    vi.restoreAllMocks()
  }
  report.realMs = performance.now() - realStart
  return report
}

/** How long after an outage ends an agent may take to hold a fresh token: one capped backoff step. */
export const recoveryBoundMs = 30 * second

/** What a run amounts to, for logs and the issue: counts per agent and per outage. */
export interface SoakSummary {
  lifetime: string
  days: number
  realSeconds: number
  requests: { beats: number; tools: number; failed: number }
  refreshes: { actual: number[]; expected: number[] }
  outages: { name: string; minutes: number; failed: number; refreshErrors: number; maxRecoveryMs: number }[]
  revocations: { unauthorized: number; retries: number }
  tokenRequests: SoakReport['tokenRequests']
}

/**
 * expectSoakInvariants asserts what must hold after any run:
 * - nothing left after dispose: no fake timer, no library timer, no scope;
 * - a request fails only inside an outage (or the recovery step after it), only when its agent
 *   held no valid token, only with a `RefreshError` (never a 401, never another error), and a
 *   failed tool call never waited more than 30 s (no hangs);
 * - refresh errors happen only inside an outage (or its recovery step), and after each outage every
 *   agent that failed to refresh holds a fresh token within one backoff step;
 * - the API never saw an expired token or another agent's token, only revoked ones, and every
 *   refusal of a revoked token was replayed once (no final 401);
 * - each agent's refreshes are within ±1 of what the schedule rule predicts.
 */
export function expectSoakInvariants(report: SoakReport): SoakSummary {
  const { schedule, options } = report
  expect(report.leftAfterDispose).toEqual({ fakeTimers: 0, libraryTimers: 0, scopes: 0 })
  const window = (at: number) => schedule.outages.find((o) => o.start <= at && at <= o.end + recoveryBoundMs)

  for (const failure of report.failures) {
    const where = { agent: failure.agent, kind: failure.kind, at: new Date(failure.at).toISOString() }
    expect({ ...where, outage: window(failure.at)?.name }).not.toMatchObject({ outage: undefined })
    expect({ ...where, validToken: failure.validToken, status: failure.status }).toEqual({
      ...where,
      validToken: false,
      status: undefined,
    })
    expect({ ...where, error: (failure.error as Error).name }).toEqual({ ...where, error: 'RefreshError' })
    expect(['ERR_REFRESH', 'ERR_REFRESH_TIMEOUT']).toContain((failure.error as { code?: string }).code)
    if (failure.waitedMs !== undefined) expect(failure.waitedMs).toBeLessThanOrEqual(30 * second)
  }

  const outages = schedule.outages.map((outage) => {
    let refreshErrors = 0
    let maxRecoveryMs = 0
    for (const [agent, errors] of report.refreshErrors) {
      const inside = errors.filter((e) => e.at >= outage.start && e.at <= outage.end + recoveryBoundMs)
      if (inside.length === 0) continue
      refreshErrors += inside.length
      const recovered = report.tokens.get(agent)?.find((t) => t.at >= outage.end)
      const recoveryMs = (recovered?.at ?? Number.POSITIVE_INFINITY) - outage.end
      expect({ agent, outage: outage.name, recoveredInTime: recoveryMs <= recoveryBoundMs }).toEqual({
        agent,
        outage: outage.name,
        recoveredInTime: true,
      })
      maxRecoveryMs = Math.max(maxRecoveryMs, recoveryMs)
    }
    const failed = report.failures.filter((f) => f.at >= outage.start && f.at <= outage.end + recoveryBoundMs).length
    return { name: outage.name, minutes: (outage.end - outage.start) / minute, failed, refreshErrors, maxRecoveryMs }
  })
  for (const [agent, errors] of report.refreshErrors) {
    for (const error of errors) {
      expect({ agent, at: new Date(error.at).toISOString(), outage: window(error.at)?.name }).not.toMatchObject({
        outage: undefined,
      })
    }
  }

  const agents = [...report.tokens.keys()]
  expect(report.api.unauthorized).toEqual({
    revoked: report.api.unauthorized.revoked,
    expired: 0,
    wrongAgent: 0,
    missing: 0,
  })
  expect(report.api.unauthorized.revoked).toBeGreaterThanOrEqual(agents.length)
  expect(report.retries).toBe(report.api.unauthorized.revoked)
  expect(report.unauthorizedEvents).toBe(0)

  const actual = agents.map((agent) => report.tokens.get(agent)?.length ?? 0)
  const expected = agents.map((agent) =>
    expectedRefreshes(report.firstIssuedAt.get(agent) as number, options.lifetimeMs, schedule),
  )
  for (const [i, agent] of agents.entries()) {
    expect({ agent, off: Math.abs((actual[i] as number) - (expected[i] as number)) <= 1 }).toEqual({ agent, off: true })
  }

  return {
    lifetime: options.lifetimeMs >= hour ? `${options.lifetimeMs / hour} h` : `${options.lifetimeMs / minute} min`,
    days: options.days,
    realSeconds: Math.round(report.realMs / 100) / 10,
    requests: {
      beats: report.beats.ok + report.beats.failed,
      tools: report.tools.ok + report.tools.failed,
      failed: report.failures.length,
    },
    refreshes: { actual, expected },
    outages,
    revocations: { unauthorized: report.api.unauthorized.revoked, retries: report.retries },
    tokenRequests: report.tokenRequests,
  }
}

/** The token lifetimes every soak runs with: 8 hours, 1 hour and 5 minutes. */
export const soakLifetimes: [name: string, lifetimeMs: number][] = [
  ['8-hour', 8 * 3_600_000],
  ['1-hour', 3_600_000],
  ['5-minute', 5 * 60_000],
]

/**
 * soakAndCheck runs the soak for `days` and asserts what every soak must show, whatever its length:
 * the invariants, and both outages really tested (every agent failed to refresh in each; the long
 * one failed requests; an 8-hour token outlives the 20-minute outage). Returns the summary.
 */
export async function soakAndCheck(lifetimeMs: number, days: number): Promise<ReturnType<typeof expectSoakInvariants>> {
  const summary = expectSoakInvariants(await runSoak({ lifetimeMs, days }))
  const [short, long] = summary.outages as [(typeof summary.outages)[0], (typeof summary.outages)[0]]
  expect(short.refreshErrors).toBeGreaterThanOrEqual(5)
  expect(long.refreshErrors).toBeGreaterThanOrEqual(5)
  expect(long.failed).toBeGreaterThan(0)
  if (lifetimeMs === 8 * 3_600_000) expect(short.failed).toBe(0)
  return summary
}
