// Recipe 4: service to service with OAuth2 client credentials. clientCredentials() is a ready
// fetchToken: client_secret_basic by default, retries of 5xx and 429, and OAuth2 errors such as
// invalid_client stop the provider instead of retrying forever.
import { clientCredentials, RefreshingClient } from 'refreshing-client'
import { startTown } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown()
  const orders = new RefreshingClient({
    baseUrl: `${town.api}/`,
    tokens: {
      name: 'orders-service',
      fetchToken: clientCredentials({
        tokenUrl: town.tokenUrl,
        clientId: 'svc',
        clientSecret: 's3cret',
        scope: 'orders',
      }),
    },
  })
  const result = await orders.ky.post('agents/svc/tools/list-orders').json<{ ok: boolean }>()
  console.log(`called as svc: ok=${result.ok}`)
  orders.dispose()
  await town.close()
}

void main()
