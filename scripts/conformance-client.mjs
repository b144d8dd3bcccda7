// The MCP conformance suite's client for the client-credentials and workload-identity scenarios,
// built on the public API of the built package (dist/) and the MCP SDK: `conformance client
// --command "node <this>"` starts an MCP server and its authorization server, and runs this with
// the server's URL as the last argument and the credentials in MCP_CONFORMANCE_CONTEXT (JSON). The
// token endpoint is discovered from the MCP server's URL (RFC 9728, then RFC 8414).
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { importPKCS8 } from 'jose'
import { clientCredentials, jwtBearer, RefreshingClient } from '../dist/index.mjs'

const serverUrl = process.argv.at(-1)
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}')

async function source() {
  const endpoint = { protectedResource: serverUrl, clientId: context.client_id }
  // auth/wif-jwt-bearer: the workload JWT its platform gave it, presented as an RFC 7523 assertion
  // by a public client. The context also holds a wrong-audience and an expired JWT: never used.
  if (context.valid_jwt !== undefined) return jwtBearer({ ...endpoint, assertion: async () => context.valid_jwt })
  if (context.private_key_pem === undefined)
    return clientCredentials({ ...endpoint, clientSecret: context.client_secret })
  const algorithm = context.signing_algorithm ?? 'ES256'
  return clientCredentials({
    ...endpoint,
    privateKey: await importPKCS8(context.private_key_pem, algorithm),
    algorithm,
  })
}

const client = new RefreshingClient({ baseUrl: serverUrl, tokens: { fetchToken: await source() } })
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
