// Recipe: an MCP agent with `@modelcontextprotocol/client` 2.x. Its transports take `fetch` as 1.x
// did. Prefer it to an `authProvider` adapter: the SDK tells an AuthProvider's `onUnauthorized`
// that some request was refused, not which token, so an adapter cannot tell a stale refusal (a
// token already replaced) from a fresh one, and refreshes for each (one per refused call in a storm);
// `client.fetch` knows the token each request carried and refreshes once.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { clientCredentials, RefreshingClient } from 'refreshing-client'
import { mcpClient, startMcpTown } from './support/mcp-town.js'

async function main(): Promise<void> {
  const town = await startMcpTown({ lifetimeS: 60 })
  const client = new RefreshingClient({
    baseUrl: town.mcpUrl,
    tokens: { fetchToken: clientCredentials({ protectedResource: town.mcpUrl, ...mcpClient }) },
  })
  const mcp = new Client({ name: 'agent', version: '2.0.0' })
  await mcp.connect(new StreamableHTTPClientTransport(new URL(town.mcpUrl), { fetch: client.fetch }))

  const before = town.stats.tokenRequests
  town.revokeAll()
  const results = await Promise.all(Array.from({ length: 30 }, () => mcp.callTool({ name: 'ping' })))
  const ok = results.filter((result) => result.isError !== true).length
  console.log(`client 2.x after a revocation: ${ok}/30 ok, ${town.stats.tokenRequests - before} token request`)

  await mcp.close()
  client.dispose()
  await town.close()
}

void main()
