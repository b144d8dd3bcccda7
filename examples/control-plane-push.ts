// Recipe 3: a control plane pushing tokens. The process exposes a push endpoint; the control plane
// POSTs {"token"} for one scope. The handler verifies the token (jose), checks that it names the
// scope, and applies it only if it is newer. It is a Fetch-API handler: here on node:http through
// toNodeHandler, as is on Bun.serve, Deno.serve, Workers or Hono.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRegistry, createTokenPushHandler } from 'refreshing-client'
import { toNodeHandler } from 'refreshing-client/node'
import { startTown, townSecret } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown({ lifetimeS: 60 })
  const registry = createRegistry()
  const session = registry.scope('session-42') // push-only: no fetchToken
  const client = session.client({ baseUrl: `${town.api}/` })

  const handler = createTokenPushHandler({
    registry,
    scopeId: (request) => /^\/sessions\/([^/]+)\/token$/.exec(new URL(request.url).pathname)?.[1],
    verify: { key: townSecret, algorithms: ['HS256'] },
  })
  const server = createServer(toNodeHandler(handler))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sessions/session-42/token`
  registry.on('push', ({ id, status }) => console.log(`push for ${id}: ${status}`))

  // What the control plane does:
  const push = async (token: string) =>
    (
      await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      })
    ).status

  const first = await town.mint('session-42', 60)
  await push(first) // 204
  await push(first) // 409: not newer than the current token
  await push(await town.mint('session-7', 120)) // 403: a token for another session
  const response = await client.fetch('agents/session-42/tools/read', { method: 'POST' })
  console.log(`the session called the API with the pushed token: ${response.status}`)

  registry.dispose()
  await new Promise((resolve) => server.close(resolve))
  await town.close()
  if (response.status !== 200) process.exitCode = 1
}

void main()
