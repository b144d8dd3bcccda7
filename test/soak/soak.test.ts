import { describe, expect, it } from 'vitest'
import { expectSoakInvariants, runSoak } from '../helpers/soak.js'

// The long soak (`npm run test:soak`, never part of `npm test`): 30 simulated days per token
// lifetime, 5 agents, heartbeats every 30 s, tool calls at random, with the fault schedule of
// test/helpers/soak.ts. Each run prints its summary: counts per agent and per outage.

const minute = 60_000
const hour = 60 * minute

describe('soak, 30 simulated days, 5 agents, heartbeats every 30 s, random tool calls', () => {
  it.each([
    ['8-hour', 8 * hour],
    ['1-hour', hour],
    ['5-minute', 5 * minute],
  ])(
    'with %s tokens: no failure outside an outage, recovery within a backoff step, nothing left',
    async (_, lifetimeMs) => {
      const report = await runSoak({ lifetimeMs, days: 30 })
      const summary = expectSoakInvariants(report)
      const [short, long] = summary.outages as [(typeof summary.outages)[0], (typeof summary.outages)[0]]
      expect(short.refreshErrors).toBeGreaterThanOrEqual(5)
      expect(long.refreshErrors).toBeGreaterThanOrEqual(5)
      expect(long.failed).toBeGreaterThan(0)
      if (lifetimeMs === 8 * hour) expect(short.failed).toBe(0)
      console.log(JSON.stringify(summary))
    },
    900_000,
  )
})
