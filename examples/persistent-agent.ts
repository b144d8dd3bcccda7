// Recipe 1: a persistent agent that pulls its own tokens. The town's tokens live 2 seconds; the
// agent works for 6 seconds and never sees a 401, because the provider refreshes at 80% of each
// token's lifetime, on a timer, whether or not the agent is busy.
import { RefreshingClient } from 'refreshing-client'
import { startTown } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown({ lifetimeS: 2 })

  const client = new RefreshingClient({
    baseUrl: `${town.api}/`,
    tokens: {
      name: 'agent-7',
      fetchToken: town.tokenFor('agent-7'), // any async function returning a token
      expectedClaims: { sub: 'agent-7' }, // never accept another identity's token
    },
  })

  let ok = 0
  const until = Date.now() + 6_000
  while (Date.now() < until) {
    const response = await client.fetch('agents/agent-7/tools/search', { method: 'POST' })
    if (!response.ok) throw new Error(`call failed with ${response.status}`)
    ok++
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  console.log(`${ok} calls, 0 failed, across ${town.stats.issued} tokens`)

  client.dispose() // the client made the provider, so it disposes it too
  await town.close()
}

void main()
