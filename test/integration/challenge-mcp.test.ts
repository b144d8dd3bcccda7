import { createServer } from 'node:http'
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import express from 'express'
import { jwtVerify } from 'jose'
import { describe, expect, it, onTestFinished } from 'vitest'
import { type ChallengeEvent, RefreshingClient, type RefreshingClientEvents } from '../../src/index.js'
import { mint, testSecret } from '../helpers/jwt.js'
import { listen } from '../helpers/listen.js'

// The MCP SDK's own resource-server middleware: 401 invalid_token for a missing, bad or expired
// token, 403 insufficient_scope when a required scope is missing, each with WWW-Authenticate.

interface McpServer {
  origin: string
  hits: string[]
  close(): Promise<void>
}

// An opaque token the verifier reports as expired: the client cannot know until the server says so.
const stale = 'stale-opaque-token'

async function startMcpServer(requiredScopes: string[]): Promise<McpServer> {
  const hits: string[] = []
  const app = express()
  app.use((request, _response, next) => {
    hits.push(request.headers.authorization ?? '')
    next()
  })
  const verifier = {
    async verifyAccessToken(token: string) {
      if (token === stale) return { token, clientId: 'agent', scopes: ['files:read'], expiresAt: 1 }
      const { payload } = await jwtVerify(token, testSecret).catch(() => {
        throw new InvalidTokenError('Token signature is not valid')
      })
      return {
        token,
        clientId: 'agent',
        scopes: String(payload['scope'] ?? '').split(' '),
        expiresAt: payload.exp as number,
      }
    },
  }
  app.post(
    '/mcp',
    requireBearerAuth({
      verifier,
      requiredScopes,
      resourceMetadataUrl: 'http://127.0.0.1/.well-known/oauth-protected-resource/mcp',
    }),
    (_request, response) => {
      response.json({ jsonrpc: '2.0', id: 1, result: {} })
    },
  )
  const { origin, close } = await listen(createServer(app))
  return { origin, hits, close }
}

async function setup(requiredScopes: string[], options: { initialToken?: string; scope: string }) {
  const server = await startMcpServer(requiredScopes)
  let fetches = 0
  const client = new RefreshingClient({
    tokens: {
      name: 'mcp-agent',
      ...(options.initialToken === undefined ? {} : { initialToken: options.initialToken }),
      fetchToken: async () => {
        fetches++
        return mint({ claims: { scope: options.scope } })
      },
    },
    baseUrl: server.origin,
  })
  onTestFinished(() => client.dispose())
  const events: { type: keyof RefreshingClientEvents; event: unknown }[] = []
  for (const type of ['challenge', 'retry', 'unauthorized'] as const) {
    client.on(type, (event) => events.push({ type, event }))
  }
  const call = () =>
    client.fetch('/mcp?session=secret-query', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call' }),
    })
  return { server, client, events, call, fetches: () => fetches }
}

describe("the MCP SDK's requireBearerAuth", () => {
  it('403 insufficient_scope: returned as is, no refresh, one challenge event with the scope', async () => {
    const { server, events, call, fetches } = await setup(['files:write'], { scope: 'files:read' })
    const response = await call()
    expect(response.status).toBe(403)
    expect(((await response.json()) as { error: string }).error).toBe('insufficient_scope')
    expect(fetches()).toBe(1)
    expect(server.hits).toHaveLength(1)
    expect(events).toEqual([
      {
        type: 'challenge',
        event: {
          url: `${server.origin}/mcp`,
          status: 403,
          scheme: 'Bearer',
          error: 'insufficient_scope',
          scope: 'files:write',
        } satisfies ChallengeEvent,
      },
    ])
  })

  it('an expired token (401 invalid_token): exactly 1 refresh, then 200', async () => {
    const { server, events, call, fetches } = await setup(['files:read'], { initialToken: stale, scope: 'files:read' })
    const response = await call()
    expect(response.status).toBe(200)
    expect(fetches()).toBe(1)
    expect(server.hits).toHaveLength(2)
    expect(server.hits[0]).toBe(`Bearer ${stale}`)
    expect(events.map(({ type }) => type)).toEqual(['challenge', 'retry'])
    expect(events[0]?.event).toEqual({
      url: `${server.origin}/mcp`,
      status: 401,
      scheme: 'Bearer',
      error: 'invalid_token',
      scope: 'files:read',
    })
  })
})
