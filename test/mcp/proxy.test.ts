import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mcpClient } from '../../examples/support/mcp-town.js'
import { type RunningProxy, startCliProxy } from '../cli/helpers.js'
import { callPing, type McpTownProcess, startMcpTownProcess } from '../helpers/mcp-town.js'

// A host that only takes a URL: the MCP SDK's client, with no auth of its own, pointed at the
// `refreshing-client proxy` program, in front of the SDK's server with its own requireBearerAuth and
// 5-second tokens. The proxy discovers the token endpoint from the MCP URL (RFC 9728, RFC 8414).
const lifetimeS = 5

let town: McpTownProcess
let proxy: RunningProxy
let mcp: Client

beforeAll(async () => {
  town = await startMcpTownProcess(lifetimeS)
  proxy = await startCliProxy(
    [
      '--upstream',
      town.mcpUrl,
      '--protected-resource',
      town.mcpUrl,
      '--client-id',
      mcpClient.clientId,
      '--client-secret-env',
      'MCP_SECRET',
    ],
    { MCP_SECRET: mcpClient.clientSecret },
  )
  mcp = new Client({ name: 'host-without-auth', version: '1.0.0' })
  await mcp.connect(new StreamableHTTPClientTransport(new URL(proxy.url)))
})

afterAll(async () => {
  await mcp?.close()
  expect(await proxy?.stop()).toBe(0)
  expect(proxy.stdout() + proxy.stderr()).not.toContain(mcpClient.clientSecret)
  await town?.close()
})

describe('an MCP host behind refreshing-client proxy', () => {
  it('makes 10 concurrent tool calls every 500 ms for 30 s: all succeed, 0 401s upstream, one token per lifetime', async () => {
    const before = await town.stats()
    const results: string[] = []
    const until = Date.now() + 30_000
    while (Date.now() < until) {
      const round = Promise.all(Array.from({ length: 10 }, () => callPing(mcp)))
      await new Promise((resolve) => setTimeout(resolve, 500))
      results.push(...(await round))
    }
    const after = await town.stats()
    expect(results.length).toBeGreaterThanOrEqual(500)
    expect(results.filter((result) => result !== 'ok')).toEqual([])
    expect(after.unauthorized - before.unauthorized).toBe(0)
    // 30 s of 5-second tokens refreshed at 80% of their lifetime, counted from an `iat` truncated to
    // the second (so 3.2 to 4 s apart): 8 to 11 grants, never one per call.
    const grants = after.tokenRequests - before.tokenRequests
    expect(grants).toBeGreaterThanOrEqual(Math.floor(30 / lifetimeS))
    expect(grants).toBeLessThanOrEqual(Math.ceil(30 / (0.8 * (lifetimeS - 1))) + 1)
  }, 60_000)

  it('streams every progress notification of a long tool, in order, as it is sent', async () => {
    const started = Date.now()
    const arrivals: { progress: number; at: number }[] = []
    const result = await mcp.callTool({ name: 'countdown' }, undefined, {
      timeout: 30_000,
      onprogress: ({ progress }) => {
        arrivals.push({ progress, at: Date.now() - started })
      },
    })
    const ended = Date.now() - started
    expect(result.content).toEqual([{ type: 'text', text: 'liftoff' }])
    expect(arrivals.map(({ progress }) => progress)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    // Ten seconds: two token lifetimes. The first notification is not held back until the end.
    expect((arrivals[0] as { at: number }).at).toBeLessThan(ended - 5_000)
    expect((await town.stats()).unauthorized).toBe(0)
  }, 60_000)
})
