import { jwtVerify } from 'jose'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRegistry, type Heartbeat, type TokenReason, type TokenRegistry } from '../../src/index.js'
import { mint, testSecret } from '../helpers/jwt.js'
import { json, startServer, type TestServer } from '../helpers/servers.js'

// The bug this library exists for: three agents in one process, a town API that accepts agent X's
// heartbeat only with a token whose `sub` is X, and agent A's token refreshed while B and C beat.

const lifetimeMs = 3_000

async function startTown(): Promise<TestServer> {
  const town = await startServer(async (hit, response) => {
    const agent = /^\/agents\/([^/]+)\/heartbeat$/.exec(hit.path)?.[1]
    const token = /^Bearer (.+)$/.exec(hit.headers.authorization ?? '')?.[1]
    const claims = token === undefined ? undefined : await jwtVerify(token, testSecret).catch(() => undefined)
    if (agent === undefined || claims?.payload.sub !== agent) return json(response, 401, { error: 'not this agent' })
    json(response, 200, { ok: true })
  })
  return town
}

async function startIssuer(): Promise<TestServer & { issue(sub: string): Promise<string> }> {
  const issuer = await startServer(async (hit, response) => {
    const sub = new URL(hit.path, 'http://x').searchParams.get('sub') as string
    json(response, 200, { token: await mint({ sub, lifetimeMs }) })
  })
  const issue = async (sub: string) =>
    ((await (await fetch(issuer.url(`/token?sub=${sub}`), { method: 'POST' })).json()) as { token: string }).token
  return { ...issuer, issue }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('many agents in one process', () => {
  it("refreshing agent A by pull and by push never breaks B's and C's heartbeats", async () => {
    const town = await startTown()
    const issuer = await startIssuer()
    const registry: TokenRegistry = createRegistry()
    onTestFinished(() => registry.dispose())
    const heartbeats = new Map<string, Heartbeat>()
    const failures: unknown[] = []
    for (const agent of ['A', 'B', 'C']) {
      const scope = registry.scope(agent, {
        fetchToken: () => issuer.issue(agent),
        expectedClaims: { sub: agent },
      })
      // A generous timeout: a loaded CI machine may take a while, and only a refusal matters here.
      const heartbeat = scope.heartbeat({
        url: town.url(`/agents/${agent}/heartbeat`),
        intervalMs: 40,
        timeoutMs: 10_000,
      })
      heartbeat.on('failure', (failure) => failures.push({ agent, ...failure }))
      heartbeats.set(agent, heartbeat)
    }
    const reasons: TokenReason[] = []
    registry.get('A')?.tokens.on('token', (event) => reasons.push(event.reason))
    // Twelve refreshes of A while everyone beats: pulls and pushes in turn.
    for (let i = 0; i < 12; i++) {
      await sleep(250)
      if (i % 2 === 0) await registry.get('A')?.tokens.refresh()
      else expect(registry.setToken('A', await mint({ sub: 'A', lifetimeMs: lifetimeMs + 1_000 * (i + 1) }))).toBe(true)
    }
    await sleep(250)
    expect(failures).toEqual([])
    for (const [agent, heartbeat] of heartbeats) {
      expect({ agent, failed: heartbeat.failed }).toEqual({ agent, failed: 0 })
      expect(heartbeat.ok).toBeGreaterThan(20)
    }
    expect(reasons.filter((reason) => reason === 'push')).toHaveLength(6)
    expect(reasons.filter((reason) => reason === 'manual')).toHaveLength(6)
    registry.dispose()
    expect(registry.size).toBe(0)
    // A beat already on the wire at dispose() can still reach the server (the abort does not recall it),
    // later on a loaded machine: let those land, then not one more beat may come.
    await sleep(100)
    const hitsAfterDispose = town.hits.length
    await sleep(200)
    expect(town.hits.length).toBe(hitsAfterDispose)
  }, 20_000)

  it('reproduces the bug with one module-level token shared by every agent', async () => {
    const town = await startTown()
    const issuer = await startIssuer()
    // The anti-pattern: one token for the whole process, overwritten by whichever agent refreshes.
    let sharedToken = await issuer.issue('A')
    const failures = { A: 0, B: 0, C: 0 }
    const beat = async (agent: 'A' | 'B' | 'C') => {
      const response = await fetch(town.url(`/agents/${agent}/heartbeat`), {
        method: 'POST',
        headers: { authorization: `Bearer ${sharedToken}` },
      })
      if (!response.ok) failures[agent]++
    }
    for (let i = 0; i < 5; i++) {
      sharedToken = await issuer.issue('A') // agent A refreshes "the" token
      await Promise.all([beat('A'), beat('B'), beat('C')])
    }
    expect(failures).toEqual({ A: 0, B: 5, C: 5 })
  })
})
