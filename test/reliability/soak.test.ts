import { describe, expect, it } from 'vitest'
import { soakAndCheck, soakLifetimes } from '../helpers/soak.js'

// The fast soak: two simulated days per token lifetime, with the whole fault schedule (a burst of
// revocations, a 20-minute outage, an outage past expiry). `npm run test:soak` runs 30 days.

describe('soak, 2 simulated days, 5 agents, heartbeats every 30 s, random tool calls', () => {
  it.each(soakLifetimes)(
    'with %s tokens: no failure outside an outage, recovery within a backoff step, nothing left',
    async (_, lifetimeMs) => {
      const summary = await soakAndCheck(lifetimeMs, 2)
      expect(summary.requests.beats).toBeGreaterThan(5 * 2 * 2 * 24 * 60 * 0.95)
    },
    120_000,
  )
})
