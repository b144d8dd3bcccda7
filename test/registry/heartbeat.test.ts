import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest'
import {
  createRegistry,
  DisposedError,
  type Heartbeat,
  isAuthError,
  RefreshingClient,
  startHeartbeat,
} from '../../src/index.js'
import { record } from '../helpers/record.js'

interface Sent {
  at: number
  method: string
  body: string | null
  authorization: string | null
}

/** A stub fetch whose answers the test controls: statuses in turn, and an optional delay. */
function stubServer(statuses: number[] = [200], delayMs = 0) {
  const sent: Sent[] = []
  let inFlight = 0
  let overlap = 0
  const fetchStub: typeof fetch = async (input, init) => {
    const request = new Request(input, init)
    inFlight++
    overlap = Math.max(overlap, inFlight)
    sent.push({
      at: Date.now(),
      method: request.method,
      body: request.body === null ? null : await request.text(),
      authorization: request.headers.get('authorization'),
    })
    if (delayMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, delayMs)
        init?.signal?.addEventListener('abort', () => {
          clearTimeout(timer)
          reject(init.signal?.reason)
        })
      })
    }
    inFlight--
    const status = statuses[Math.min(sent.length - 1, statuses.length - 1)] as number
    return new Response(null, { status })
  }
  return { sent, fetchStub, overlap: () => overlap }
}

const heartbeats: Heartbeat[] = []

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})

afterEach(() => {
  for (const heartbeat of heartbeats.splice(0)) heartbeat.dispose()
  expect(vi.getTimerCount()).toBe(0)
})

function client(fetchStub: typeof fetch): RefreshingClient {
  return new RefreshingClient({
    tokens: { initialToken: 'agent-token' },
    baseUrl: 'http://127.0.0.1:9',
    fetch: fetchStub,
  })
}

describe('startHeartbeat', () => {
  it('beats at once, then every intervalMs, as POST with the JSON body and the token', async () => {
    const server = stubServer()
    let n = 0
    const heartbeat = startHeartbeat({
      client: client(server.fetchStub),
      url: '/agents/a/heartbeat',
      intervalMs: 1_000,
      jitterRatio: 0,
      body: () => ({ beat: ++n }),
    })
    heartbeats.push(heartbeat)
    const beats = record(heartbeat, 'beat')
    await vi.advanceTimersByTimeAsync(0)
    expect(server.sent.map((s) => s.at)).toEqual([0])
    await vi.advanceTimersByTimeAsync(3_000)
    expect(server.sent.map((s) => s.at)).toEqual([0, 1_000, 2_000, 3_000])
    expect(server.sent[0]).toEqual({ at: 0, method: 'POST', body: '{"beat":1}', authorization: 'Bearer agent-token' })
    expect(beats).toEqual(Array(4).fill({ status: 200, ok: true }))
    expect([heartbeat.sent, heartbeat.ok, heartbeat.failed]).toEqual([4, 4, 0])
  })

  it('never overlaps beats: a slow beat delays the next', async () => {
    const server = stubServer([200], 2_500)
    const heartbeat = startHeartbeat({
      client: client(server.fetchStub),
      url: '/hb',
      intervalMs: 1_000,
      jitterRatio: 0,
      timeoutMs: 10_000,
    })
    heartbeats.push(heartbeat)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(server.overlap()).toBe(1)
    expect(server.sent.map((s) => s.at)).toEqual([0, 3_500, 7_000])
  })

  it('keeps every interval within ± jitterRatio', async () => {
    const server = stubServer()
    const heartbeat = startHeartbeat({
      client: client(server.fetchStub),
      url: '/hb',
      intervalMs: 1_000,
      jitterRatio: 0.2,
    })
    heartbeats.push(heartbeat)
    await vi.advanceTimersByTimeAsync(60_000)
    const gaps = server.sent.slice(1).map((s, i) => s.at - (server.sent[i] as Sent).at)
    expect(gaps.length).toBeGreaterThan(40)
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(800)
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_200)
    expect(new Set(gaps).size).toBeGreaterThan(1)
  })

  it('reports a 401 that survives the retry as a loud failure, and counts consecutive failures', async () => {
    const server = stubServer([401, 500, 200])
    const heartbeat = startHeartbeat({
      client: new RefreshingClient({
        tokens: { initialToken: 'agent-token', fetchToken: async () => 'fresh-token' },
        baseUrl: 'http://127.0.0.1:9',
        fetch: server.fetchStub,
      }),
      url: '/hb',
      intervalMs: 1_000,
      jitterRatio: 0,
      method: 'PUT',
    })
    heartbeats.push(heartbeat)
    const failures = record(heartbeat, 'failure')
    await vi.advanceTimersByTimeAsync(1_000)
    // 401 → refresh → replay gets 500; then the next beat gets 200.
    expect(server.sent.map((s) => [s.method, s.authorization])).toEqual([
      ['PUT', 'Bearer agent-token'],
      ['PUT', 'Bearer fresh-token'],
      ['PUT', 'Bearer fresh-token'],
    ])
    expect(failures).toEqual([{ status: 500, consecutive: 1 }])
    expect([heartbeat.sent, heartbeat.ok, heartbeat.failed]).toEqual([2, 1, 1])
    const always401 = stubServer([401])
    const refused = startHeartbeat({
      client: client(always401.fetchStub),
      url: '/hb',
      intervalMs: 1_000,
      jitterRatio: 0,
    })
    heartbeats.push(refused)
    const refusals = record(refused, 'failure')
    await vi.advanceTimersByTimeAsync(1_000)
    // A push-only provider whose token was refused has nothing to send until a push: loud too.
    expect(refusals.map((f) => [f.status, f.consecutive, (f.error as { code?: string }).code])).toEqual([
      [401, 1, 'ERR_UNAUTHORIZED'],
      [undefined, 2, 'ERR_NO_TOKEN'],
    ])
    expect(isAuthError(refusals[0]?.error, 'ERR_UNAUTHORIZED')).toBe(true)
  })

  it('fails a beat that hangs past timeoutMs, and one whose body() throws', async () => {
    const server = stubServer([200], 60_000)
    const heartbeat = startHeartbeat({
      client: client(server.fetchStub),
      url: '/hb',
      intervalMs: 1_000,
      jitterRatio: 0,
      timeoutMs: 500,
    })
    heartbeats.push(heartbeat)
    const failures = record(heartbeat, 'failure')
    await vi.advanceTimersByTimeAsync(500)
    expect(failures).toHaveLength(1)
    expect((failures[0]?.error as Error | undefined)?.message).toBe('heartbeat timed out')
    const broken = startHeartbeat({
      client: client(stubServer().fetchStub),
      url: '/hb',
      intervalMs: 1_000,
      body: () => {
        throw new Error('no state')
      },
    })
    heartbeats.push(broken)
    const brokenFailures = record(broken, 'failure')
    await vi.advanceTimersByTimeAsync(0)
    expect(brokenFailures.map((f) => (f.error as Error).message)).toEqual(['no state'])
  })

  it('stops: no beat after stop(), a beat in flight is aborted, timers are gone', async () => {
    const server = stubServer([200], 5_000)
    const heartbeat = startHeartbeat({
      client: client(server.fetchStub),
      url: '/hb',
      intervalMs: 1_000,
      timeoutMs: 10_000,
    })
    const events = [...[record(heartbeat, 'beat'), record(heartbeat, 'failure')]]
    await vi.advanceTimersByTimeAsync(100)
    heartbeat.stop()
    heartbeat.dispose()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(server.sent).toHaveLength(1)
    expect(events.flat()).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('stops when its client is disposed, and refuses on() once stopped', async () => {
    const server = stubServer()
    const own = client(server.fetchStub)
    const heartbeat = startHeartbeat({ client: own, url: '/hb', intervalMs: 1_000, jitterRatio: 0 })
    const failures = record(heartbeat, 'failure')
    await vi.advanceTimersByTimeAsync(0)
    own.dispose()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(server.sent).toHaveLength(1)
    expect(failures.map((failure) => (failure.error as { code?: string }).code)).toEqual(['ERR_DISPOSED'])
    expect(vi.getTimerCount()).toBe(0)
    expect(() => heartbeat.on('beat', () => {})).toThrow(DisposedError)
  })

  it('validates its options', () => {
    const c = client(stubServer().fetchStub)
    expect(() => startHeartbeat({} as never)).toThrow('startHeartbeat needs a client')
    expect(() => startHeartbeat({ client: c, url: '/hb', intervalMs: 0 })).toThrow(RangeError)
    expect(() => startHeartbeat({ client: c, url: 1 as never, intervalMs: 1 })).toThrow(TypeError)
    expect(() => startHeartbeat({ client: c, url: '/hb', intervalMs: 1, jitterRatio: 1 })).toThrow(RangeError)
    expect(() => startHeartbeat({ client: c, url: '/hb', intervalMs: 1, timeoutMs: -1 })).toThrow(RangeError)
    expect(() => startHeartbeat({ client: c, url: '/hb', intervalMs: 1, body: 1 as never })).toThrow(TypeError)
    expect(() => startHeartbeat({ client: c, url: '/hb', intervalMs: 1, method: 1 as never })).toThrow(TypeError)
  })

  it('types its events', () => {
    const heartbeat = startHeartbeat({ client: client(stubServer().fetchStub), url: '/hb', intervalMs: 1_000 })
    heartbeats.push(heartbeat)
    heartbeat.on('beat', (event) => expectTypeOf(event).toEqualTypeOf<{ status: number; ok: boolean }>())
    heartbeat.on('failure', (event) =>
      expectTypeOf(event).toEqualTypeOf<{ status?: number; error?: unknown; consecutive: number }>(),
    )
  })
})

describe('scope.heartbeat', () => {
  it('belongs to the scope: its own client for the url origin, and removed when disposed alone', async () => {
    const registry = createRegistry()
    const scope = registry.scope('a', { initialToken: 'a-token' })
    const server = stubServer()
    const viaClient = scope.heartbeat({
      url: '/hb',
      intervalMs: 1_000,
      client: scope.client({ baseUrl: 'http://127.0.0.1:9', fetch: server.fetchStub }),
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(server.sent.map((s) => s.authorization)).toEqual(['Bearer a-token'])
    expect(JSON.parse(JSON.stringify(scope)).members).toBe(3)
    viaClient.dispose()
    expect(JSON.parse(JSON.stringify(scope)).members).toBe(2)
    const stubbed = vi.spyOn(globalThis, 'fetch').mockImplementation(server.fetchStub)
    const own = scope.heartbeat({ url: 'http://127.0.0.1:9/own', intervalMs: 1_000 })
    await vi.advanceTimersByTimeAsync(0)
    expect(server.sent).toHaveLength(2)
    expect([own.sent, own.ok]).toEqual([1, 1])
    expect(() => scope.heartbeat({ url: '/relative', intervalMs: 1_000 })).toThrow('needs an absolute url')
    registry.dispose()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(server.sent).toHaveLength(2)
    stubbed.mockRestore()
  })
})
