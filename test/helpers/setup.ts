import { afterAll, afterEach, beforeAll, vi } from 'vitest'
import { pendingTimers } from '../../src/internal/timer.js'
import { openServers } from './listen.js'

// The leak check every test file gets (STYLE: after each test, nothing leaks). It runs after the
// file's own hooks (after-hooks run last-registered first, and this file registers first), and
// fails the file, naming what was left behind:
// - a fake timer still pending when a test ends (only visible while fake timers are on: real
//   unref'd timers are invisible to `process.getActiveResourcesInfo()`);
// - a timer of the library's shared heap still set at the end of the file (`pendingTimers()`);
// - a test server not closed (`openServers()`), or any other listening TCP server;
// - a scope left in the global registry (`Symbol.for('refreshing-client.registry.v1')`).
// Copies of the library loaded from `dist/` have heaps of their own, which this cannot see.

const globalRegistryKey = Symbol.for('refreshing-client.registry.v1')
const leaks: string[] = []
let listeningAtStart = 0

function listening(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap').length
}

beforeAll(() => {
  listeningAtStart = listening()
})

afterEach((context) => {
  if (vi.isFakeTimers()) {
    const count = vi.getTimerCount()
    if (count > 0) leaks.push(`test "${context.task.name}" ended with ${count} fake timer(s) pending`)
  }
  vi.useRealTimers()
})

afterAll(async () => {
  // A closed server's handle goes in the event loop's close phase, a moment after its callback.
  for (let wait = 0; wait < 50 && listening() > listeningAtStart; wait++) await new Promise((r) => setTimeout(r, 2))
  const found = [...leaks.splice(0)]
  const timers = pendingTimers()
  if (timers > 0) found.push(`${timers} timer(s) of the library still set`)
  const servers = openServers()
  if (servers > 0) found.push(`${servers} test server(s) not closed`)
  const extra = listening() - listeningAtStart
  if (extra > 0) found.push(`${extra} TCP server(s) still listening`)
  const registry = (globalThis as Record<symbol, { size?: number; ids?: () => Iterable<string> } | undefined>)[
    globalRegistryKey
  ]
  if (registry !== undefined && registry.size !== 0) {
    found.push(`the global registry still holds scopes: ${JSON.stringify([...(registry.ids?.() ?? [])])}`)
  }
  if (found.length > 0) throw new Error(`leak check: ${found.join('; ')}`)
})
