import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type McpTownStats, mcpClient } from '../../examples/support/mcp-town.js'
import { clientCredentials, RefreshingClient } from '../../src/index.js'
import { fixture, start } from './processes.js'

// The MCP SDK's own server (McpServer over Streamable HTTP, requireBearerAuth, RFC 9728 metadata)
// in a process of its own (examples/support/mcp-town.ts), and the SDK's client in the test, with
// `client.fetch` as the transport's fetch and tokens from an endpoint discovered from the MCP URL.

/** A running MCP town process. */
export interface McpTownProcess {
  readonly mcpUrl: string
  stats(): Promise<McpTownStats>
  /** Revokes every token issued so far; resolves with the stats at that moment. */
  revokeAll(): Promise<McpTownStats>
  close(): Promise<void>
}

/** startMcpTownProcess starts the town in a child process, issuing tokens of `lifetimeS` seconds. */
export async function startMcpTownProcess(lifetimeS: number): Promise<McpTownProcess> {
  const town = start(process.execPath, ['--import', 'tsx', fixture('mcp-town.mts'), String(lifetimeS)], {
    stdin: 'pipe',
    inheritStderr: true,
  })
  const [line] = await town.waitFor(/^\{.*\}$/m)
  const { mcpUrl, issuer } = JSON.parse(line) as { mcpUrl: string; issuer: string }
  const control = async (what: string) => (await (await fetch(`${issuer}/_town/${what}`)).json()) as McpTownStats
  return {
    mcpUrl,
    stats: () => control('stats'),
    revokeAll: () => control('revoke'),
    async close() {
      await town.stop()
    },
  }
}

/** connectMcp connects the SDK's client to `mcpUrl` over `client.fetch`, with discovered tokens. */
export async function connectMcp(mcpUrl: string): Promise<{ mcp: Client; close(): Promise<void> }> {
  const client = new RefreshingClient({
    baseUrl: mcpUrl,
    tokens: { fetchToken: clientCredentials({ protectedResource: mcpUrl, ...mcpClient }) },
  })
  const mcp = new Client({ name: 'agent', version: '1.0.0' })
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: client.fetch }))
  return {
    mcp,
    async close() {
      await mcp.close()
      client.dispose()
    },
  }
}

/** callPing calls the town's tool: 'ok', or 'failed: <why>'. */
export const callPing = (mcp: Client): Promise<string> =>
  mcp.callTool({ name: 'ping' }).then(
    (result) => (result.isError === true ? `failed: ${JSON.stringify(result)}` : 'ok'),
    (error: unknown) => `failed: ${String(error)}`,
  )
