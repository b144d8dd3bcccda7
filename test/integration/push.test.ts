import { createServer } from 'node:http'
import { expect, it, onTestFinished } from 'vitest'
import { createRegistry, createTokenPushHandler } from '../../src/index.js'
import { toNodeHandler } from '../../src/node.js'
import { mint, testSecret } from '../helpers/jwt.js'
import { listen } from '../helpers/listen.js'
import { type ApiServer, bearerOf, startApiServer } from '../helpers/servers.js'

it('receives a push over loopback through node:http, and the scope next request carries the new token', async () => {
  const api: ApiServer = await startApiServer()
  const registry = createRegistry()
  onTestFinished(() => registry.dispose())
  const scope = registry.scope('agent-a', { initialToken: await mint({ sub: 'agent-a', lifetimeMs: 3_600_000 }) })
  const client = scope.client({ baseUrl: api.origin })
  const handler = createTokenPushHandler({
    registry,
    scopeId: (request) => /^\/agents\/([^/]+)\/token$/.exec(new URL(request.url).pathname)?.[1],
    verify: { key: testSecret, algorithms: ['HS256'] },
  })
  const { origin: control } = await listen(createServer(toNodeHandler(handler)))
  await client.fetch('/before')
  const fresh = await mint({ sub: 'agent-a', lifetimeMs: 7_200_000 })
  const pushed = await fetch(`${control}/agents/agent-a/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: fresh }),
  })
  expect(pushed.status).toBe(204)
  await client.fetch('/after')
  expect(api.hits.map((hit) => [hit.path, bearerOf(hit) === fresh])).toEqual([
    ['/before', false],
    ['/after', true],
  ])
  // Refusals come back whole through the adapter, a 413 included (the body is not read to the end).
  const tooBig = await fetch(`${control}/agents/agent-a/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: 'x'.repeat(1024 * 1024) }),
  })
  expect([tooBig.status, ((await tooBig.json()) as { error: string }).error]).toEqual([413, 'payload_too_large'])
  const get = await fetch(`${control}/agents/agent-a/token`)
  expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST'])
  const stale = await fetch(`${control}/agents/agent-a/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ token: fresh }),
  })
  expect(stale.status).toBe(409)
  expect(scope.tokens.current?.accessToken).toBe(fresh)
})

it('refuses to adapt something that is not a handler', () => {
  expect(() => toNodeHandler('x' as never)).toThrow(TypeError)
})
