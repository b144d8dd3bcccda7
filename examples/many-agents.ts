// Recipe 2: many agents in one process. Each agent is a scope: its own provider, clients and
// heartbeats. Refreshing one agent's token never touches another's, and disposing a scope releases
// everything it owns.
import { createRegistry } from 'refreshing-client'
import { startTown } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown({ lifetimeS: 2 })
  const registry = createRegistry()

  for (const agent of ['ada', 'brook', 'cyd']) {
    const scope = registry.scope(agent, { fetchToken: town.tokenFor(agent), expectedClaims: { sub: agent } })
    const heartbeat = scope.heartbeat({ url: `${town.api}/agents/${agent}/heartbeat`, intervalMs: 250 })
    heartbeat.on('failure', ({ status, consecutive }) =>
      console.error(`${agent}: heartbeat failed`, status, consecutive),
    )
  }

  // Agent "ada" is refreshed by force a few times; "brook" and "cyd" carry on undisturbed.
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    await registry.get('ada')?.tokens.refresh()
  }

  console.log(
    `scopes: ${[...registry.ids()].join(', ')}; town accepted ${town.stats.accepted}, refused ${town.stats.refused}`,
  )
  registry.get('brook')?.dispose() // one session ends: its heartbeat stops, its provider is released
  console.log(`after brook left: ${registry.size} scopes`)
  registry.dispose()
  console.log(`after dispose: ${registry.size} scopes`)
  await town.close()
  if (town.stats.refused > 0) process.exitCode = 1
}

void main()
