import { describe, expect, it } from 'vitest'
import { type Ran, run as runProcess } from './helpers/processes.js'

// Every example runs here, against its own local servers, so none can rot. They run from source
// through tsx (tsconfig `paths` map `refreshing-client` to src/), as `npm run demo` does.
const run = (file: string, env: Record<string, string> = {}): Promise<Ran> =>
  runProcess(process.execPath, ['--import', 'tsx', `examples/${file}`], {
    env: { ...process.env, ...env },
    timeoutMs: 60_000,
  })

const examples: [file: string, output: RegExp][] = [
  ['persistent-agent.ts', /^\d+ calls, 0 failed, across [3-9]\d* tokens$/m],
  ['many-agents.ts', /town accepted \d+, refused 0\nafter brook left: 2 scopes\nafter dispose: 0 scopes/],
  [
    'control-plane-push.ts',
    /push for session-42: 204\npush for session-42: 409\npush for session-42: 403\nthe session called the API with the pushed token: 200/,
  ],
  ['service-to-service.ts', /^called as svc: ok=true$/m],
  ['fetch-for-sdk.ts', /sdk: \{[\s\S]*ok: true[\s\S]*ky: \{ ok: true/],
  [
    'using-dispose.ts',
    /inside the block: 200, 1 scope\nafter the block: 0 scopes\nprovider after client.dispose\(\): fresh\nprovider after tokens.dispose\(\): disposed/,
  ],
  [
    'events.ts',
    /reason=initial[\s\S]*reason=(scheduled|expired)[\s\S]*refreshFailures: 0,\n\s+unauthorized: 0,\n\s+heartbeatFailures: 0/,
  ],
  ['fleet.ts', /^5 replicas, 1 token, 1 grant$/m],
  [
    'health-and-otel.ts',
    /readyz: 503 \{"state":"empty","healthy":false,"consecutiveFailures":0\}\nreadyz: 200 \(no-store\)\n[\s\S]*refreshing_client\.refreshes \{"provider":"agent-1","outcome":"success","reason":"initial"\} 1\.0[\s\S]*refreshing_client\.token\.time_to_expiry \{"provider":"agent-3"\} 5\d\.\d\nspans: \d+ × refreshing_client\.refresh$/m,
  ],
  [
    'mcp-agent.ts',
    /^70 calls over 7 s, 0 failed, 2 metadata requests\nafter a revocation: 20 calls, 0 failed, 1 token request$/m,
  ],
  ['mcp-sse.ts', /^over SSE: \[\{"type":"text","text":"pong"\}\], 0 refused$/m],
  ['mcp-client-v2.ts', /^client 2\.x after a revocation: 30\/30 ok, 1 token request$/m],
  ['sdk-clients.ts', /^openai: pong\naxios: Rex\nopenapi-fetch: Rex\nafter a revocation: 30\/30 ok, 1 token request$/m],
  ['workload-identity.ts', /^\d+ calls over 7 s, 0 failed, [2-9] exchanges, 0 with an expired subject$/m],
]

describe.concurrent('examples', () => {
  it.each(examples)(
    '%s runs and prints what it promises',
    async (file, output) => {
      const { code, stdout, stderr } = await run(file)
      expect(stderr).toBe('')
      expect(stdout).toMatch(output)
      expect(code).toBe(0)
    },
    60_000,
  ) // ten tsx processes at once on a loaded 2-core machine take longer than the default 20 s

  it('the demo: 0 failures for the library agents, some for the naive one, nothing left', async () => {
    const { code, stdout } = await run('demo.ts', { DEMO_MS: '4500' })
    expect(stdout).toMatch(/refreshing-client agents: 0 failed requests/)
    expect(Number(/naive agent:\s+(\d+) failed/.exec(stdout)?.[1])).toBeGreaterThan(0)
    expect(stdout).toMatch(/registry size after dispose: 0/)
    expect(code).toBe(0)
  }, 60_000)
})
