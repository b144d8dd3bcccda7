import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterEach, describe, expect, it } from 'vitest'
import { type McpTownStats, mcpClient } from '../../examples/support/mcp-town.js'
import { clientCredentials, RefreshingClient } from '../../src/index.js'

// The MCP SDK's own server (McpServer over Streamable HTTP, requireBearerAuth, RFC 9728 metadata)
// in its own process, and the SDK's client here, with `client.fetch` as the transport's fetch and
// tokens from an endpoint discovered from the MCP server's URL.
const fixture = fileURLToPath(new URL('../fixtures/mcp-town.mts', import.meta.url))
let child: ChildProcess | undefined
let cleanup: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const step of cleanup.reverse()) await step()
  cleanup = []
  if (child !== undefined && child.exitCode === null) {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
  child = undefined
})

async function startTown(lifetimeS: number) {
  child = spawn(process.execPath, ['--import', 'tsx', fixture, String(lifetimeS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  const { mcpUrl, issuer } = JSON.parse(line) as { mcpUrl: string; issuer: string }
  const control = async (what: string) => (await (await fetch(`${issuer}/_town/${what}`)).json()) as McpTownStats
  return { mcpUrl, stats: () => control('stats'), revokeAll: () => control('revoke') }
}

async function connect(mcpUrl: string, providerOptions = {}) {
  const client = new RefreshingClient({
    baseUrl: mcpUrl,
    tokens: { fetchToken: clientCredentials({ protectedResource: mcpUrl, ...mcpClient }), ...providerOptions },
  })
  const mcp = new Client({ name: 'agent', version: '1.0.0' })
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: client.fetch }))
  cleanup.push(async () => {
    await mcp.close()
    client.dispose()
  })
  return { client, mcp }
}

const call = (mcp: Client) =>
  mcp.callTool({ name: 'ping' }).then(
    (result) => (result.isError === true ? `failed: ${JSON.stringify(result)}` : 'ok'),
    (error: unknown) => `failed: ${String(error)}`,
  )

describe('the MCP SDK client over client.fetch', () => {
  // A 2-second token leaves the provider a margin of a few hundred ms: on a machine starved of CPU
  // (load far above its cores) requests sit longer than that between send and check, so the run is
  // tried again there; every attempt asserts the exact counts.
  it('makes 20 concurrent tool calls every 250 ms for 7 s with 2-second tokens: none fails, no 401', {
    timeout: 40_000,
    retry: 2,
  }, async () => {
    const town = await startTown(2)
    const { mcp } = await connect(town.mcpUrl)
    const outcomes: string[] = []
    const rounds: Promise<void>[] = []
    for (let round = 0; round < 28; round++) {
      rounds.push(
        Promise.all(Array.from({ length: 20 }, () => call(mcp))).then((results) => void outcomes.push(...results)),
      )
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    await Promise.all(rounds)
    const stats = await town.stats()
    expect(outcomes).toHaveLength(560)
    expect(outcomes.filter((outcome) => outcome !== 'ok').slice(0, 3)).toEqual([])
    expect(outcomes.filter((outcome) => outcome !== 'ok')).toHaveLength(0)
    expect(stats.toolCalls).toBe(560)
    expect(stats.unauthorized).toBe(0)
    // One RFC 9728 document and one RFC 8414 document, for the whole run.
    expect(stats.metadataRequests).toBe(2)
    // About one token per 1.6 s (the refresh point of a 2-second token); bounded either way.
    expect(stats.tokenRequests).toBeGreaterThanOrEqual(4)
    expect(stats.tokenRequests).toBeLessThanOrEqual(12)
  })

  it('rides out a revocation storm of 50 concurrent calls with exactly 1 token request', async () => {
    // Longer tokens here, so that no scheduled refresh can fall inside the storm: every token
    // request counted is the storm's.
    const town = await startTown(60)
    const { mcp } = await connect(town.mcpUrl)
    expect(await call(mcp)).toBe('ok')
    const before = await town.revokeAll()
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => call(mcp)))
    const after = await town.stats()
    expect(outcomes.filter((outcome) => outcome === 'ok')).toHaveLength(50)
    expect(after.tokenRequests - before.tokenRequests).toBe(1)
    expect(after.unauthorized - before.unauthorized).toBe(50)
    expect(after.metadataRequests).toBe(2)
  }, 30_000)
})
