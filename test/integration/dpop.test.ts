import { createHash, randomBytes } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { allowInsecureRequests, validateJwtAccessToken } from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientCredentials,
  createDPoP,
  createTokenProvider,
  type DPoP,
  RefreshingClient,
  type TokenProvider,
} from '../../src/index.js'
import { type OidcServer, startOidcProvider } from '../helpers/oidc.js'
import { record } from '../helpers/record.js'
import { type Hit, json, startServer, type TestServer } from '../helpers/servers.js'

// oidc-provider 9 (DPoP with nonces required, 10-second JWT access tokens) issues the tokens; a
// resource server validates each request with oauth4webapi's validateJwtAccessToken
// (requireDPoP) and enforces nonces of its own, which it rotates.

let op: OidcServer
let dpop: DPoP

beforeAll(async () => {
  op = await startOidcProvider({ kind: 'client_credentials', accessTokenTtlS: 10 })
  dpop = await createDPoP()
})

afterAll(() => op.close())

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

function tokens(): TokenProvider {
  return createTokenProvider({
    name: 'dpop-service',
    fetchToken: clientCredentials({
      tokenUrl: op.tokenUrl,
      clientId: op.clientId,
      clientSecret: op.clientSecret,
      scope: 'api:write',
      dpop,
    }),
  })
}

interface ResourceServer extends TestServer {
  /** Every proof `jti` seen, with how often. */
  readonly jtis: Map<string, number>
  /** The bodies each request id arrived with, one per send. */
  readonly bodies: Map<string, string[]>
  readonly statuses: number[]
  /** The access tokens of the accepted requests, with their `cnf.jkt`. */
  readonly accepted: Set<string>
  rotateNonce(): void
}

async function startResourceServer(): Promise<ResourceServer> {
  const jtis = new Map<string, number>()
  const bodies = new Map<string, string[]>()
  const statuses: number[] = []
  const accepted = new Set<string>()
  const used = new Map<string, number>()
  let nonce = randomBytes(12).toString('base64url')
  const answer = (hit: Hit, response: Parameters<typeof json>[0], status: number, challenge?: string) => {
    statuses.push(status)
    response.setHeader('dpop-nonce', nonce)
    if (challenge !== undefined) response.setHeader('www-authenticate', challenge)
    json(response, status, { sha256: sha256(hit.body) })
  }
  const server = await startServer(async (hit, response) => {
    const id = String(hit.headers['x-request-id'])
    bodies.set(id, [...(bodies.get(id) ?? []), sha256(hit.body)])
    const proof = String(hit.headers['dpop'] ?? '')
    const claims = decodeJwt(proof)
    jtis.set(String(claims.jti), (jtis.get(String(claims.jti)) ?? 0) + 1)
    if (claims['nonce'] !== nonce) {
      return answer(
        hit,
        response,
        401,
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
      )
    }
    const request = new Request(server.url(hit.path), {
      method: hit.method,
      headers: { authorization: String(hit.headers.authorization), dpop: proof },
    })
    try {
      const at = await validateJwtAccessToken({ issuer: op.issuer, jwks_uri: op.jwksUri }, request, op.audience, {
        requireDPoP: true,
        [allowInsecureRequests]: true,
      })
      const token = String(hit.headers.authorization).slice(5)
      // Each token is revoked after 40 uses, so that refresh replays happen next to nonce retries.
      const uses = (used.get(token) ?? 0) + 1
      used.set(token, uses)
      if (uses > 40) return answer(hit, response, 401, 'DPoP error="invalid_token", error_description="revoked"')
      accepted.add(`${(at.cnf as { jkt: string }).jkt} ${token}`)
      answer(hit, response, 200)
    } catch (error) {
      const expired = /"exp"|expired|timestamp/i.test(String((error as Error).message))
      answer(hit, response, 401, `DPoP error="${expired ? 'invalid_token' : 'invalid_dpop_proof'}", algs="ES256"`)
    }
  })
  return {
    ...server,
    jtis,
    bodies,
    statuses,
    accepted,
    rotateNonce: () => {
      nonce = randomBytes(12).toString('base64url')
    },
  }
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(sent, sent + 1_000))
      sent += 1_000
    },
  })
}

describe('DPoP against oidc-provider and an oauth4webapi resource server', () => {
  it('the first grant meets use_dpop_nonce once and succeeds on the retry; cnf.jkt is the thumbprint', async () => {
    const before = op.grants.length
    const fetchToken = clientCredentials({
      tokenUrl: op.tokenUrl,
      clientId: op.clientId,
      clientSecret: op.clientSecret,
      dpop: await createDPoP(),
    })
    const key = (fetchToken as unknown as Record<symbol, string>)[Symbol.for('refreshing-client.dpop-bound.v1')]
    const token = (await fetchToken({ signal: new AbortController().signal, reason: 'initial', report() {} })) as {
      accessToken: string
      tokenType: string
    }
    expect(op.grants.slice(before)).toEqual([
      { status: 400, error: 'use_dpop_nonce', dpop: true },
      { status: 200, dpop: true },
    ])
    expect(token.tokenType).toBe('DPoP')
    expect((decodeJwt(token.accessToken)['cnf'] as { jkt: string }).jkt).toBe(key)
  })

  it('100 POSTs over 20 s with 10-second tokens, then 50 at once: all 200, bodies identical, no jti reused', async () => {
    const rs = await startResourceServer()
    const provider = tokens()
    const client = new RefreshingClient({ tokens: provider, baseUrl: rs.origin, dpop })
    const challenges = record(client, 'challenge')
    const grantsBefore = op.grants.length
    const rotation = setInterval(() => rs.rotateNonce(), 3_000)
    const sent = new Map<string, string>()
    const post = async (id: string) => {
      const bytes = randomBytes(2_000 + Number(id.slice(1)))
      sent.set(id, sha256(bytes))
      const streamed = Number(id.slice(1)) % 10 === 0
      const response = await client.fetch(`/items?id=${id}`, {
        method: 'POST',
        headers: { 'x-request-id': id, 'content-type': 'application/octet-stream' },
        body: streamed ? streamOf(bytes) : bytes,
        ...(streamed ? { duplex: 'half' } : {}),
      } as RequestInit)
      const body = (await response.json()) as { sha256: string }
      return { status: response.status, sha256: body.sha256 }
    }
    try {
      const sequential: { status: number }[] = []
      for (let i = 0; i < 100; i++) {
        sequential.push(await post(`s${i}`))
        await sleep(200)
      }
      // The burst starts on a new token: 40 of its uses pass and the other 10 are refused and replayed
      // with the next token. (On a token already used more than 30 times, over 40 replays would share
      // the next one, and the server's 40-use limit would refuse some replays too.)
      await provider.refresh()
      const concurrent = await Promise.all(Array.from({ length: 50 }, (_, i) => post(`c${i}`)))
      expect(sequential.filter((r) => r.status === 200)).toHaveLength(100)
      expect(concurrent.filter((r) => r.status === 200)).toHaveLength(50)
    } finally {
      clearInterval(rotation)
      client.dispose()
      provider.dispose()
      await rs.close()
    }
    // Every send of a request carried the very bytes the caller gave, first send and replays alike.
    expect(rs.bodies.size).toBe(150)
    for (const [id, digests] of rs.bodies) expect(new Set([...digests, sent.get(id)])).toEqual(new Set([sent.get(id)]))
    const replays = [...rs.bodies.values()].filter((digests) => digests.length > 1).length
    expect(replays).toBeGreaterThan(0)
    expect([...rs.jtis.values()].every((count) => count === 1)).toBe(true)
    expect(rs.jtis.size).toBe(rs.hits.length)
    // Each request made at most one nonce retry and one refresh replay.
    expect(Math.max(...[...rs.bodies.values()].map((digests) => digests.length))).toBeLessThanOrEqual(3)
    // Every accepted token was bound to our key, and several tokens served the run.
    const tokensUsed = [...rs.accepted].map((entry) => entry.split(' '))
    expect(tokensUsed.every(([jkt]) => jkt === dpop.thumbprint)).toBe(true)
    expect(tokensUsed.length).toBeGreaterThanOrEqual(2)
    const grants = op.grants.slice(grantsBefore)
    // Every token granted served requests, but perhaps the one a scheduled refresh brought just before
    // the burst's forced refresh replaced it.
    const granted = grants.filter((g) => g.status === 200).length
    expect(granted).toBeGreaterThanOrEqual(tokensUsed.length)
    expect(granted).toBeLessThanOrEqual(tokensUsed.length + 1)
    // Nonce retries are no events; each revocation is one `invalid_token` challenge and one refresh.
    expect(challenges.filter((c) => c.error === 'use_dpop_nonce')).toHaveLength(0)
    const revocations = rs.statuses.length - rs.statuses.filter((status) => status === 200).length
    expect(challenges.filter((c) => c.error === 'invalid_token').length).toBeGreaterThan(0)
    expect(challenges.every((c) => c.error === 'invalid_token' && c.status === 401 && c.scheme === 'DPoP')).toBe(true)
    expect(revocations).toBe(rs.hits.length - 150)
  }, 60_000)

  it('a server that answers use_dpop_nonce forever: exactly 2 hits per request, no refresh', async () => {
    const rs = await startServer((_hit, response) => {
      response.setHeader('dpop-nonce', randomBytes(8).toString('base64url'))
      response.setHeader('www-authenticate', 'DPoP error="use_dpop_nonce"')
      json(response, 401, { error: 'use_dpop_nonce' })
    })
    const provider = tokens()
    const client = new RefreshingClient({ tokens: provider, baseUrl: rs.origin, dpop })
    const events: string[] = []
    client.on('challenge', () => events.push('challenge'))
    client.on('retry', () => events.push('retry'))
    const grants = () => op.grants.filter((g) => g.status === 200).length
    try {
      await provider.getToken()
      const before = grants()
      for (let i = 0; i < 5; i++) {
        const response = await client.fetch('/x', { method: 'POST', body: `body ${i}` })
        expect(response.status).toBe(401)
        expect(rs.hits).toHaveLength(2 * (i + 1))
      }
      expect(grants()).toBe(before)
      expect(events).toEqual([])
      // The retry carried the nonce the first answer gave.
      expect(decodeJwt(String(rs.hits[1]?.headers['dpop']))['nonce']).toBeTypeOf('string')
      expect(decodeProtectedHeader(String(rs.hits[1]?.headers['dpop'])).typ).toBe('dpop+jwt')
    } finally {
      client.dispose()
      provider.dispose()
      await rs.close()
    }
  })
})
