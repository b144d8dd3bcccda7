// An MCP server and its authorization server on 127.0.0.1, for the MCP recipes and their tests.
// The MCP server is the SDK's own (`McpServer`, Streamable HTTP and SSE transports,
// `requireBearerAuth`, `mcpAuthMetadataRouter` for RFC 9728 metadata); the authorization server
// publishes RFC 8414 metadata and issues short-lived HS256 JWTs to one confidential client,
// addressed (`aud`) to the RFC 8707 resource asked for. Nothing here is part of the library.
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { mcpAuthMetadataRouter } from '@modelcontextprotocol/sdk/server/auth/router.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import express from 'express'
import { jwtVerify, SignJWT } from 'jose'

const secret = new TextEncoder().encode('the MCP town signing secret, 32 bytes or more')
export const mcpClient = { clientId: 'agent-runner', clientSecret: 'agent-runner-secret' }

/** What the town counts. */
export interface McpTownStats {
  /** Token requests at the authorization server. */
  tokenRequests: number
  /** Metadata GETs, at both servers. */
  metadataRequests: number
  /** 401 answers of the MCP server. */
  unauthorized: number
  /** Tool calls the MCP server ran. */
  toolCalls: number
}

/** A running MCP town. */
export interface McpTown {
  /** The MCP server's Streamable HTTP endpoint, and its resource identifier. */
  readonly mcpUrl: string
  /** The SSE endpoint of the same server (the deprecated HTTP+SSE transport). */
  readonly sseUrl: string
  /** The authorization server's issuer identifier. */
  readonly issuer: string
  readonly stats: McpTownStats
  /** Lifetime of the tokens issued from now on, in seconds. */
  lifetimeS: number
  /** Revokes every token issued so far: the MCP server refuses them from now on. */
  revokeAll(): void
  close(): Promise<void>
}

/** startMcpTown starts both servers on random loopback ports. */
export async function startMcpTown(options: { lifetimeS?: number } = {}): Promise<McpTown> {
  const stats: McpTownStats = { tokenRequests: 0, metadataRequests: 0, unauthorized: 0, toolCalls: 0 }
  let revokedBefore = 0
  let serial = 0
  const town = { lifetimeS: options.lifetimeS ?? 2 }

  const auth = await listen(createServer((request, response) => void authorize(request, response)))
  const issuer = `http://127.0.0.1:${auth.port}`
  const authorize = async (request: IncomingMessage, response: ServerResponse) => {
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      response.end(JSON.stringify(body))
    }
    if (request.method === 'GET' && request.url === '/.well-known/oauth-authorization-server') {
      stats.metadataRequests++
      return json(200, {
        issuer,
        token_endpoint: `${issuer}/token`,
        response_types_supported: ['token'],
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      })
    }
    // The test harness's controls, when the town runs in a process of its own.
    if (request.url === '/_town/stats') return json(200, stats)
    if (request.url === '/_town/revoke') {
      revokedBefore = serial
      return json(200, stats)
    }
    if (request.method !== 'POST' || request.url !== '/token') return json(404, { error: 'not_found' })
    stats.tokenRequests++
    const form = new URLSearchParams(await text(request))
    const basic = `Basic ${btoa(`${mcpClient.clientId}:${mcpClient.clientSecret}`)}`
    if (request.headers.authorization !== basic) return json(401, { error: 'invalid_client' })
    if (form.get('grant_type') !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' })
    const now = Math.floor(Date.now() / 1000)
    const jwt = new SignJWT({ jti: `t${++serial}`, n: serial, client_id: mcpClient.clientId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(issuer)
      .setSubject(mcpClient.clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + town.lifetimeS)
    const resource = form.get('resource')
    if (resource !== null) jwt.setAudience(resource)
    // No `expires_in`: the JWT's whole-second `exp` is the truth (a token minted at x.9 s lives 1.1 s).
    json(200, { access_token: await jwt.sign(secret), token_type: 'Bearer' })
  }

  const app = express()
  const mcp = await listen(createServer(app))
  const mcpUrl = `http://127.0.0.1:${mcp.port}/mcp`
  app.use((request, response, next) => {
    if (request.path.startsWith('/.well-known/')) stats.metadataRequests++
    response.on('finish', () => {
      if (response.statusCode === 401) stats.unauthorized++
    })
    next()
  })
  app.use(
    mcpAuthMetadataRouter({
      oauthMetadata: {
        issuer,
        token_endpoint: `${issuer}/token`,
        authorization_endpoint: `${issuer}/authorize`,
        response_types_supported: ['code'],
      },
      resourceServerUrl: new URL(mcpUrl),
    }),
  )
  const bearer = requireBearerAuth({
    verifier: {
      async verifyAccessToken(token) {
        const { payload } = await jwtVerify(token, secret, { issuer }).catch(() => {
          throw new InvalidTokenError('the token is invalid or expired')
        })
        if (Number(payload['n']) <= revokedBefore) throw new InvalidTokenError('the token was revoked')
        return {
          token,
          clientId: String(payload['client_id']),
          scopes: [],
          ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
          ...(typeof payload.aud === 'string' ? { resource: new URL(payload.aud) } : {}),
        }
      },
    },
    expectedResource: new URL(mcpUrl),
    resourceMetadataUrl: `http://127.0.0.1:${mcp.port}/.well-known/oauth-protected-resource/mcp`,
  })

  const newServer = () => {
    const server = new McpServer({ name: 'mcp-town', version: '1.0.0' })
    server.registerTool('ping', { description: 'Answers pong.' }, async () => {
      stats.toolCalls++
      return { content: [{ type: 'text', text: 'pong' }] }
    })
    // A long tool: ten progress notifications, one a second, then its answer.
    server.registerTool('countdown', { description: 'Reports progress for ten seconds.' }, async (extra) => {
      stats.toolCalls++
      const progressToken = extra._meta?.progressToken
      for (let progress = 1; progress <= 10; progress++) {
        await new Promise((resolve) => setTimeout(resolve, 1_000))
        if (progressToken === undefined) continue
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress, total: 10, message: `step ${progress} at ${Date.now()}` },
        })
      }
      return { content: [{ type: 'text', text: 'liftoff' }] }
    })
    return server
  }
  const sessions = new Map<string, StreamableHTTPServerTransport>()
  const sse = new Map<string, SSEServerTransport>()
  app.all('/mcp', bearer, express.json(), async (request, response) => {
    const id = request.headers['mcp-session-id']
    let transport = typeof id === 'string' ? sessions.get(id) : undefined
    if (transport === undefined) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (sessionId) => void sessions.set(sessionId, transport as StreamableHTTPServerTransport),
      })
      await newServer().connect(transport)
    }
    await transport.handleRequest(request, response, request.body)
  })
  app.get('/sse', bearer, async (_request, response) => {
    const transport = new SSEServerTransport('/messages', response)
    sse.set(transport.sessionId, transport)
    response.on('close', () => sse.delete(transport.sessionId))
    await newServer().connect(transport)
  })
  app.post('/messages', bearer, express.json(), async (request, response) => {
    const transport = sse.get(String(request.query['sessionId']))
    if (transport === undefined) return void response.status(404).end()
    await transport.handlePostMessage(request, response, request.body)
  })

  return Object.assign(town, {
    mcpUrl,
    sseUrl: `http://127.0.0.1:${mcp.port}/sse`,
    issuer,
    stats,
    revokeAll: () => {
      revokedBefore = serial
    },
    close: async () => {
      for (const transport of [...sessions.values(), ...sse.values()]) await transport.close()
      await Promise.all([auth.close(), mcp.close()])
    },
  })
}

async function listen(server: Server): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

async function text(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
