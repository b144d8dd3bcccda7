import { describe, expect, it } from 'vitest'
import { expectSoakInvariants, runSoak } from '../helpers/soak.js'

// The fast soak: two simulated days per token lifetime, with the whole fault schedule (a burst of
// revocations, a 20-minute outage, an outage past expiry). `npm run test:soak` runs 30 days.

const minute = 60_000
const hour = 60 * minute

describe('soak, 2 simulated days, 5 agents, heartbeats every 30 s, random tool calls', () => {
  it.each([
    ['8-hour', 8 * hour],
    ['1-hour', hour],
    ['5-minute', 5 * minute],
  ])(
    'with %s tokens: no failure outside an outage, recovery within a backoff step, nothing left',
    async (_, lifetimeMs) => {
      const report = await runSoak({ lifetimeMs, days: 2 })
      const summary = expectSoakInvariants(report)
      const [short, long] = summary.outages as [(typeof summary.outages)[0], (typeof summary.outages)[0]]
      // Every agent failed to refresh in both outages, so both really tested something.
      expect(short.refreshErrors).toBeGreaterThanOrEqual(5)
      expect(long.refreshErrors).toBeGreaterThanOrEqual(5)
      expect(long.failed).toBeGreaterThan(0)
      // An 8-hour token outlives a 20-minute outage: not one request fails in it.
      if (lifetimeMs === 8 * hour) expect(short.failed).toBe(0)
      expect(summary.requests.beats).toBeGreaterThan(5 * 2 * 2 * 24 * 60 * 0.95)
    },
    120_000,
  )
})
