// Recipe 8: a fleet sharing one token per identity. Every replica of a service gives its provider
// the same store and storeKey: one of them refreshes for all (it holds a short lease), the others
// take the token from the store. In production the store is Redis (createRedisStore from
// refreshing-client/redis); here five providers in one process share an in-memory store.
import { clientCredentials, createMemoryStore, createTokenProvider } from 'refreshing-client'
import { startTown } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown()
  const store = createMemoryStore()
  const fetchToken = clientCredentials({ tokenUrl: town.tokenUrl, clientId: 'svc', clientSecret: 's3cret' })
  const replicas = Array.from({ length: 5 }, (_, i) =>
    createTokenProvider({ name: `orders-${i}`, storeKey: 'orders-service', store, fetchToken }),
  )
  const tokens = await Promise.all(replicas.map((replica) => replica.getToken()))
  console.log(`5 replicas, ${new Set(tokens).size} token, ${town.stats.issued} grant`)
  for (const replica of replicas) replica.dispose()
  await town.close()
}

void main()
