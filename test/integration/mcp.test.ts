import { afterEach, describe, expect, it } from 'vitest'
import { callPing, connectMcp, type McpTownProcess, startMcpTownProcess } from '../helpers/mcp-town.js'

// The MCP SDK's server in its own process and its client here over `client.fetch`. The 7-second
// run with 2-second tokens is in test/mcp (`npm run test:mcp`), alone on the machine.
let cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const step of cleanup.reverse()) await step()
  cleanup = []
})

async function start(lifetimeS: number): Promise<McpTownProcess> {
  const town = await startMcpTownProcess(lifetimeS)
  cleanup.push(() => town.close())
  return town
}

describe('the MCP SDK client over client.fetch', () => {
  it('rides out a revocation storm of 50 concurrent calls with exactly 1 token request', async () => {
    // Longer tokens here, so that no scheduled refresh can fall inside the storm: every token
    // request counted is the storm's.
    const town = await start(60)
    const { mcp, close } = await connectMcp(town.mcpUrl)
    cleanup.push(close)
    expect(await callPing(mcp)).toBe('ok')
    const before = await town.revokeAll()
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => callPing(mcp)))
    const after = await town.stats()
    expect(outcomes.filter((outcome) => outcome === 'ok')).toHaveLength(50)
    expect(after.tokenRequests - before.tokenRequests).toBe(1)
    expect(after.unauthorized - before.unauthorized).toBe(50)
    expect(after.metadataRequests).toBe(2)
  }, 40_000)
})
