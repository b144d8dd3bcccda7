// The MCP conformance suite's client for the client-credentials scenarios, built on the public API
// of the built package (dist/) and the MCP SDK: `conformance client --command "node <this>"`
// starts an MCP server and its authorization server, and runs this with the server's URL as the
// last argument and the credentials in MCP_CONFORMANCE_CONTEXT (JSON). The token endpoint is
// discovered from the MCP server's URL (RFC 9728, then RFC 8414).
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { importPKCS8 } from 'jose'
import { clientCredentials, RefreshingClient } from '../dist/index.mjs'

const serverUrl = process.argv.at(-1)
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}')
const auth =
  context.private_key_pem === undefined
    ? { clientSecret: context.client_secret }
    : {
        privateKey: await importPKCS8(context.private_key_pem, context.signing_algorithm ?? 'ES256'),
        algorithm: context.signing_algorithm ?? 'ES256',
      }

const client = new RefreshingClient({
  baseUrl: serverUrl,
  tokens: { fetchToken: clientCredentials({ protectedResource: serverUrl, clientId: context.client_id, ...auth }) },
})
const mcp = new Client({ name: 'refreshing-client-conformance', version: '1.0.0' })
try {
  await mcp.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { fetch: client.fetch }))
  const { tools } = await mcp.listTools()
  console.log(`connected; ${tools.length} tool(s)`)
  for (const tool of tools) await mcp.callTool({ name: tool.name, arguments: {} }).catch(() => {})
} finally {
  await mcp.close()
  client.dispose()
}
