import { afterEach, describe, expect, it } from 'vitest'
import { callPing, connectMcp, startMcpTownProcess } from '../helpers/mcp-town.js'

// `npm run test:mcp`: MCP's SDK client over `client.fetch` against the SDK's server with 2-second
// tokens, for 7 s. It runs alone (not in `npm test`, whose other files share the 2 cores): a
// 2-second token leaves the provider a margin of a few hundred ms, and a machine starved of CPU
// holds requests longer than that between send and check. Every attempt asserts exact counts.
let cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const step of cleanup.reverse()) await step()
  cleanup = []
})

describe('the MCP SDK client over client.fetch, with 2-second tokens', () => {
  it('makes 20 concurrent tool calls every 250 ms for 7 s: none fails, no 401, 2 metadata requests', async () => {
    const town = await startMcpTownProcess(2)
    cleanup.push(() => town.close())
    const { mcp, close } = await connectMcp(town.mcpUrl)
    cleanup.push(close)
    const outcomes: string[] = []
    const rounds: Promise<void>[] = []
    for (let round = 0; round < 28; round++) {
      rounds.push(
        Promise.all(Array.from({ length: 20 }, () => callPing(mcp))).then((results) => void outcomes.push(...results)),
      )
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    await Promise.all(rounds)
    const stats = await town.stats()
    expect(outcomes).toHaveLength(560)
    expect(outcomes.filter((outcome) => outcome !== 'ok').slice(0, 3)).toEqual([])
    expect(stats.toolCalls).toBe(560)
    expect(stats.unauthorized).toBe(0)
    // One RFC 9728 document and one RFC 8414 document, for the whole run.
    expect(stats.metadataRequests).toBe(2)
    // About one token per 1.6 s (the refresh point of a 2-second token); bounded either way.
    expect(stats.tokenRequests).toBeGreaterThanOrEqual(4)
    expect(stats.tokenRequests).toBeLessThanOrEqual(12)
  })
})
