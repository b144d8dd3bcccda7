// Recipe: an MCP agent over the older HTTP+SSE transport (MCP's TypeScript SDK 1.x). The event
// stream is opened by the transport's EventSource, which takes a fetch of its own: give both
// `client.fetch`, so the stream and the posted messages carry a fresh token.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { clientCredentials, RefreshingClient } from 'refreshing-client'
import { mcpClient, startMcpTown } from './support/mcp-town.js'

async function main(): Promise<void> {
  const town = await startMcpTown({ lifetimeS: 60 })
  const client = new RefreshingClient({
    baseUrl: town.sseUrl,
    tokens: { fetchToken: clientCredentials({ protectedResource: town.mcpUrl, ...mcpClient }) },
  })
  const mcp = new Client({ name: 'agent', version: '1.0.0' })
  const transport = new SSEClientTransport(new URL(town.sseUrl), {
    fetch: client.fetch,
    eventSourceInit: { fetch: client.fetch },
  })
  await mcp.connect(transport)
  const result = await mcp.callTool({ name: 'ping' })
  console.log(`over SSE: ${JSON.stringify(result.content)}, ${town.stats.unauthorized} refused`)

  await mcp.close()
  client.dispose()
  await town.close()
}

void main()
