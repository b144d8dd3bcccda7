import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import { startTokenServer, type TokenServer } from '../helpers/token-server.js'

// Twenty providers in twenty worker threads share one real redis-server. Tokens live 3 s (so a
// refresh every 2.4 s); the lease is 1 s and every store call gives up after 2 s (the default):
// a shorter timeout makes a loaded machine look like a store outage, and members fetch for themselves.

const lifetimeS = 3
const members = 20
const dist = fileURLToPath(new URL('../../dist/', import.meta.url))
const workerFile = fileURLToPath(new URL('../fixtures/fleet-worker.mjs', import.meta.url))

interface Grant {
  at: number
  member: number
}
interface Stats {
  id: number
  ok: number
  failed: number
  storeErrors: number
  token: string | undefined
  failures: string[]
}

let redis: RedisServer
const grants: Grant[] = []
let hangNext = false
let hungMember: number | undefined
let hungGrantAt: number | undefined
let issued = 0
let tokens: TokenServer
const workers = new Map<number, Worker>()

function ask(worker: Worker, message: string): Promise<unknown> {
  return new Promise((resolve) => {
    worker.once('message', resolve)
    worker.postMessage(message)
  })
}

const stats = async (): Promise<Stats[]> =>
  Promise.all([...workers.values()].map((w) => ask(w, 'stats') as Promise<Stats>))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The distinct tokens the members hold. Twenty threads cannot be read at one instant: a snapshot
 * taken as a new token is stored may catch members still adopting it (a watch message in flight),
 * so the count is read again, a few times over half a second, until the members agree.
 */
async function tokensHeld(): Promise<number> {
  let held = 0
  for (let attempt = 0; attempt < 5; attempt++) {
    held = new Set((await stats()).map((member) => member.token)).size
    if (held === 1) return held
    await sleep(100)
  }
  return held
}

/** Grants in a time window, and the smallest gap between two of them. */
function grantsBetween(from: number, to: number): { count: number; minGapMs: number } {
  const inside = grants.filter((grant) => grant.at >= from && grant.at < to)
  let minGapMs = Number.POSITIVE_INFINITY
  for (let i = 1; i < inside.length; i++)
    minGapMs = Math.min(minGapMs, (inside[i] as Grant).at - (inside[i - 1] as Grant).at)
  return { count: inside.length, minGapMs }
}

beforeAll(async () => {
  redis = await startRedisServer()
  await redis.start()
  tokens = await startTokenServer((hit) => {
    const member = Number(hit.headers['x-member'])
    grants.push({ at: Date.now(), member })
    if (hangNext) {
      hangNext = false
      hungMember = member
      hungGrantAt = Date.now()
      return 'hang'
    }
    return { body: { access_token: `token-${++issued}`, expires_in: lifetimeS } }
  })
  const { tokenUrl } = tokens
  for (let id = 0; id < members; id++) {
    const worker = new Worker(workerFile, {
      workerData: { dist, redisPort: redis.port, tokenUrl, id, storeLeaseMs: 1_000, storeTimeoutMs: 2_000 },
    })
    await new Promise((resolve) => worker.once('message', resolve))
    workers.set(id, worker)
  }
}, 60_000)

afterAll(async () => {
  for (const worker of workers.values()) {
    await ask(worker, 'stop')
    await worker.terminate()
  }
  await tokens.close()
  await redis.stop()
})

it('makes exactly one grant per token lifetime for 20 providers over many lifetimes', async () => {
  await sleep(1_000)
  const from = Date.now()
  await sleep(12_500)
  const window = grantsBetween(from, Date.now())
  // 12.5 s at one refresh per 2.4 s: five refreshes, or six if the window's edges catch one more.
  expect(window.count).toBeGreaterThanOrEqual(5)
  expect(window.count).toBeLessThanOrEqual(6)
  // Never two grants for one lifetime: consecutive grants are a refresh interval apart.
  expect(window.minGapMs).toBeGreaterThan(1_500)
  const all = await stats()
  expect(all.reduce((sum, member) => sum + member.failed, 0)).toBe(0)
  expect(all.reduce((sum, member) => sum + member.storeErrors, 0)).toBe(0)
  expect(await tokensHeld()).toBe(1)
}, 30_000)

it('lets one other member take over after the lease when the holder dies mid-refresh, with no caller failing', async () => {
  hangNext = true
  while (hungMember === undefined) await sleep(20)
  const dead = workers.get(hungMember) as Worker
  workers.delete(hungMember)
  await dead.terminate()
  const killedAt = Date.now()
  // The dead member took the 1 s lease before its (hung) grant reached the server.
  const hungAt = hungGrantAt as number
  await sleep(6_000)
  const takeover = grants.filter((grant) => grant.at > hungAt && grant.member !== hungMember)
  // One member took over once the lease had run out, then the fleet went back to one grant per lifetime.
  expect(takeover[0]?.at).toBeGreaterThanOrEqual(hungAt + 900)
  expect(takeover[0]?.member).not.toBe(hungMember)
  // The take-over, then about two lifetimes of one grant each (19 members fetching for
  // themselves would make dozens; a rare extra one on a loaded machine is tolerated here, while
  // the first test holds the exact count).
  expect(grantsBetween(killedAt, Date.now()).count).toBeLessThanOrEqual(4)
  const all = await stats()
  expect(all.reduce((sum, member) => sum + member.failed, 0)).toBe(0)
  expect(await tokensHeld()).toBe(1)
}, 30_000)

it('keeps every caller served through a Redis outage by refreshing locally, then shares again', async () => {
  await redis.stop()
  const downAt = Date.now()
  await sleep(7_500)
  const outage = grantsBetween(downAt, Date.now())
  // Each member refreshed for itself: many grants, and still no failed call.
  expect(outage.count).toBeGreaterThan(members)
  let all = await stats()
  expect(all.reduce((sum, member) => sum + member.failed, 0)).toBe(0)
  expect(all.every((member) => member.storeErrors > 0)).toBe(true)
  await redis.start()
  // Reconnection, the pause after store failures (five 2 s timeouts), and a lifetime or two to converge.
  await sleep(12_000)
  const from = Date.now()
  await sleep(7_500)
  const shared = grantsBetween(from, Date.now())
  expect(shared.count).toBeGreaterThanOrEqual(2)
  // About three lifetimes: shared again, not 19 members fetching each (see the take-over test).
  expect(shared.count).toBeLessThanOrEqual(4)
  all = await stats()
  expect(all.reduce((sum, member) => sum + member.failed, 0)).toBe(0)
  expect(await tokensHeld()).toBe(1)
}, 60_000)
