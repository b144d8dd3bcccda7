// npm run demo — a "town" API whose tokens live 3 seconds, and a "container" running four agents
// for about 15 seconds:
//   scout    pulls its own tokens (fetchToken),
//   courier  receives tokens pushed by a control plane through the push handler,
//   clerk    shares the container's token and names itself with an identity header,
//   naive    holds the token it was started with, like the code this library replaces.
// The town accepts agent X's calls only with X's token (or the container's, for X). At the end every
// session is disposed; the demo exits 0 only if the library's agents had no failure.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createRegistry,
  createTokenProvider,
  createTokenPushHandler,
  parseToken,
  type Scope,
  type TokenReason,
} from 'refreshing-client'
import { toNodeHandler } from 'refreshing-client/node'
import { startTown, townSecret } from './support/town.js'

const runForMs = Number(process.env['DEMO_MS'] ?? 15_000)
const pullReasons: ReadonlySet<TokenReason> = new Set(['initial', 'scheduled', 'expired', 'unauthorized', 'manual'])

interface Row {
  name: string
  how: string
  ok: number
  failed: number
  pulls: number
  pushes: number
  expiresAt: () => number | undefined
}

async function main(): Promise<number> {
  const town = await startTown({ lifetimeS: 3 })
  const registry = createRegistry()

  // The control plane pushes through this endpoint, one scope per URL.
  const push = createTokenPushHandler({
    registry,
    scopeId: (request) => /^\/agents\/([^/]+)\/token$/.exec(new URL(request.url).pathname)?.[1],
    verify: { key: townSecret, algorithms: ['HS256'] },
  })
  const control = createServer(toNodeHandler(push))
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve))
  const pushUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}/agents/courier/token`

  const scout = registry.scope('scout', { fetchToken: town.tokenFor('scout'), expectedClaims: { sub: 'scout' } })
  const courier = registry.scope('courier', { expectedClaims: { sub: 'courier' } })
  const container = createTokenProvider({ name: 'container', fetchToken: town.tokenFor('container') })
  const clerk = registry.scope('clerk', { tokens: container })

  const pushToCourier = async () => {
    const token = await town.mint('courier', 4)
    await fetch(pushUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    })
  }
  await pushToCourier()
  const controlPlane = setInterval(() => void pushToCourier().catch(() => {}), 1_000)

  const rows: Row[] = []
  const agents: [Scope, string, Record<string, string>][] = [
    [scout, 'pulls its tokens', {}],
    [courier, 'gets pushed tokens', {}],
    [clerk, 'shares the container token', { 'x-agent-id': 'clerk' }],
  ]
  const loops: (() => void)[] = []
  for (const [scope, how, headers] of agents) {
    const row: Row = {
      name: scope.id,
      how,
      ok: 0,
      failed: 0,
      pulls: 0,
      pushes: 0,
      expiresAt: () => scope.tokens.current?.expiresAt,
    }
    rows.push(row)
    scope.tokens.on('token', ({ reason }) => {
      if (reason === 'push') row.pushes++
      else if (pullReasons.has(reason)) row.pulls++
    })
    const client = scope.client({ baseUrl: `${town.api}/`, headers })
    const heartbeat = scope.heartbeat({ client, url: `${town.api}/agents/${scope.id}/heartbeat`, intervalMs: 500 })
    heartbeat.on('beat', ({ ok }) => {
      if (ok) row.ok++
    })
    heartbeat.on('failure', () => row.failed++)
    loops.push(toolCalls((path) => client.fetch(path, { method: 'POST' }), scope.id, row))
  }

  // The naive agent: one token from startup, a plain fetch, no refresh.
  const naiveToken = await town.mint('naive')
  const { expiresAt } = parseToken(naiveToken)
  const naive: Row = {
    name: 'naive',
    how: 'keeps its first token',
    ok: 0,
    failed: 0,
    pulls: 1,
    pushes: 0,
    expiresAt: () => expiresAt,
  }
  rows.push(naive)
  const naiveSend = (path: string) =>
    fetch(`${town.api}/${path}`, { method: 'POST', headers: { authorization: `Bearer ${naiveToken}` } })
  loops.push(toolCalls(naiveSend, 'naive', naive))

  const display = startDisplay(rows)
  await new Promise((resolve) => setTimeout(resolve, runForMs))

  for (const stop of loops) stop()
  clearInterval(controlPlane)
  display.stop()
  registry.dispose()
  container.dispose()
  await new Promise((resolve) => control.close(resolve))
  await town.close()

  const libraryFailures = rows.filter((row) => row.name !== 'naive').reduce((sum, row) => sum + row.failed, 0)
  console.log('')
  console.log('Summary')
  console.log(`  refreshing-client agents: ${libraryFailures} failed requests`)
  console.log(`  naive agent:              ${naive.failed} failed requests (its token expired after 3 s)`)
  console.log(`  tokens issued by the town: ${town.stats.issued}; registry size after dispose: ${registry.size}`)
  return libraryFailures === 0 && registry.size === 0 ? 0 : 1
}

// Tool calls at random intervals, counted in `row`; returns the function that stops them.
function toolCalls(send: (path: string) => Promise<Response>, agent: string, row: Row): () => void {
  let stopped = false
  const tools = ['search', 'read', 'write']
  const loop = async () => {
    while (!stopped) {
      const tool = tools[Math.floor(Math.random() * tools.length)] as string
      try {
        const response = await send(`agents/${agent}/tools/${tool}`)
        await response.body?.cancel()
        if (response.ok) row.ok++
        else row.failed++
      } catch {
        row.failed++
      }
      await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 300))
    }
  }
  void loop()
  return () => {
    stopped = true
  }
}

function startDisplay(rows: Row[]): { stop(): void } {
  const started = Date.now()
  const tty = process.stdout.isTTY === true
  let drawn = 0
  const render = () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const lines = [
      `t=${seconds}s  agent     how                          ok  failed  pulls  pushes  expires in`,
      ...rows.map((row) => {
        const expiresAt = row.expiresAt()
        const left = expiresAt === undefined ? '   -' : `${((expiresAt - Date.now()) / 1000).toFixed(1).padStart(5)}s`
        return `        ${row.name.padEnd(9)} ${row.how.padEnd(28)} ${String(row.ok).padStart(3)}  ${String(row.failed).padStart(6)}  ${String(row.pulls).padStart(5)}  ${String(row.pushes).padStart(6)}  ${left}`
      }),
    ]
    if (tty) {
      if (drawn > 0) process.stdout.write(`\x1b[${drawn}A`)
      process.stdout.write(lines.map((line) => `\x1b[2K${line}\n`).join(''))
      drawn = lines.length
    } else {
      console.log(lines.join('\n'))
    }
  }
  render()
  const timer = setInterval(render, tty ? 250 : 3_000)
  return {
    stop() {
      clearInterval(timer)
      if (tty) render()
    },
  }
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  },
)
