// Recipe 7 (events for logs): events for logs and metrics. Providers, clients, registries and heartbeats emit typed
// events; on() returns the unsubscribe function. Only the `token` event carries a token: log its
// reason and expiry, never the token itself.
import { createRegistry } from 'refreshing-client'
import { startTown } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown({ lifetimeS: 2 })
  const registry = createRegistry()
  const metrics = { refreshes: 0, refreshFailures: 0, unauthorized: 0, heartbeatFailures: 0 }

  registry.on('scope', ({ id }) => console.log(`scope ${id} created`))
  registry.on('disposed', ({ id }) => console.log(`scope ${id} disposed`))

  const scope = registry.scope('agent-3', { fetchToken: town.tokenFor('agent-3') })
  const stop = scope.tokens.on('token', ({ token, reason }) => {
    metrics.refreshes++
    console.log(`token for agent-3: reason=${reason} expires=${new Date(token.expiresAt ?? 0).toISOString()}`)
  })
  scope.tokens.on('error', ({ error, attempt, willRetry, retryInMs }) => {
    metrics.refreshFailures++
    console.warn(`refresh failed (attempt ${attempt}, retry: ${willRetry} in ${retryInMs} ms): ${error.message}`)
  })
  const client = scope.client({ baseUrl: `${town.api}/` })
  client.on('unauthorized', ({ url, status, retried }) => {
    metrics.unauthorized++
    console.warn(`refused: ${url} ${status} (retried: ${retried})`)
  })
  const heartbeat = scope.heartbeat({ client, url: `${town.api}/agents/agent-3/heartbeat`, intervalMs: 500 })
  heartbeat.on('failure', () => metrics.heartbeatFailures++)

  await new Promise((resolve) => setTimeout(resolve, 3_000))
  stop()
  console.log('metrics', metrics, `heartbeats sent=${heartbeat.sent} ok=${heartbeat.ok}`)
  registry.dispose()
  await town.close()
}

void main()
