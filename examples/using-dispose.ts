// Recipe 6: `using` and dispose(). Every object with a lifetime — provider, client, registry,
// scope, heartbeat — is Disposable: `using` releases it at the end of the block, even on an
// exception; dispose() does the same by hand and is idempotent.
import { createRegistry, createTokenProvider, RefreshingClient } from 'refreshing-client'
import { startTown } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown()
  const registry = createRegistry()

  {
    using session = registry.scope('session-1', { fetchToken: town.tokenFor('session-1') })
    const client = session.client({ baseUrl: `${town.api}/` })
    const response = await client.fetch('agents/session-1/tools/search', { method: 'POST' })
    console.log(`inside the block: ${response.status}, ${registry.size} scope`)
  }
  console.log(`after the block: ${registry.size} scopes`)

  const tokens = createTokenProvider({ fetchToken: town.tokenFor('solo') })
  const client = new RefreshingClient({ tokens, baseUrl: `${town.api}/` })
  await client.fetch('agents/solo/heartbeat', { method: 'POST' })
  client.dispose() // a provider passed in is not the client's to dispose...
  console.log(`provider after client.dispose(): ${tokens.state}`)
  tokens.dispose() // ...its owner disposes it
  console.log(`provider after tokens.dispose(): ${tokens.state}`)

  registry.dispose()
  await town.close()
}

void main()
