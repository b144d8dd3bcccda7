// Recipe: an MCP agent over Streamable HTTP (MCP's TypeScript SDK 1.x). Give the transport
// `client.fetch`: every request carries a fresh token, and a token the server refuses is replaced
// once, for all the calls that saw it refused. The token endpoint and the RFC 8707 resource are
// discovered from the MCP server's URL (RFC 9728, then RFC 8414).
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { clientCredentials, RefreshingClient } from 'refreshing-client'
import { mcpClient, startMcpTown } from './support/mcp-town.js'

async function main(): Promise<void> {
  const town = await startMcpTown({ lifetimeS: 5 }) // an MCP server with 5-second tokens
  const { mcpUrl } = town

  const client = new RefreshingClient({
    baseUrl: mcpUrl,
    tokens: {
      fetchToken: clientCredentials({
        protectedResource: mcpUrl,
        clientId: mcpClient.clientId,
        clientSecret: mcpClient.clientSecret,
      }),
    },
  })
  const mcp = new Client({ name: 'agent', version: '1.0.0' })
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: client.fetch }))

  let failed = 0
  const call = () => mcp.callTool({ name: 'ping' }).catch(() => void failed++)
  for (let round = 0; round < 14; round++) {
    await Promise.all(Array.from({ length: 5 }, call))
    await new Promise((resolve) => setTimeout(resolve, 500)) // 7 s: past a token's lifetime
  }
  console.log(`70 calls over 7 s, ${failed} failed, ${town.stats.metadataRequests} metadata requests`)

  const before = town.stats.tokenRequests
  town.revokeAll()
  await Promise.all(Array.from({ length: 20 }, call))
  console.log(`after a revocation: 20 calls, ${failed} failed, ${town.stats.tokenRequests - before} token request`)

  await mcp.close()
  client.dispose()
  await town.close()
}

void main()
