import { describe, it } from 'vitest'
import { soakAndCheck, soakLifetimes } from '../helpers/soak.js'

// The long soak (`npm run test:soak`, never part of `npm test`): 30 simulated days per token
// lifetime, 5 agents, heartbeats every 30 s, tool calls at random, with the fault schedule of
// test/helpers/soak.ts. Each run prints its summary: counts per agent and per outage.

describe('soak, 30 simulated days, 5 agents, heartbeats every 30 s, random tool calls', () => {
  it.each(soakLifetimes)(
    'with %s tokens: no failure outside an outage, recovery within a backoff step, nothing left',
    async (_, lifetimeMs) => {
      console.log(JSON.stringify(await soakAndCheck(lifetimeMs, 30)))
    },
    900_000,
  )
})
