import fc from 'fast-check'
import { exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from 'jose'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createRegistry,
  createTokenPushHandler,
  type PushVerifyOptions,
  type TokenPushHandler,
  type TokenRegistry,
} from '../../src/index.js'
import { testSecret } from '../helpers/jwt.js'
import { record } from '../helpers/record.js'

const issuer = 'https://control.test'
const audience = 'agents'
let es256: { privateKey: CryptoKey; jwks: JSONWebKeySet }
const registries: TokenRegistry[] = []

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  es256 = { privateKey, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] } }
})

afterEach(() => {
  for (const registry of registries.splice(0)) registry.dispose()
})

interface Claims {
  sub?: string
  iss?: string
  aud?: string
  lifetimeS?: number
  iatOffsetS?: number
}

let counter = 0
async function sign(kind: 'HS256' | 'ES256', claims: Claims = {}, key?: CryptoKey | Uint8Array): Promise<string> {
  const now = Math.floor(Date.now() / 1000) + (claims.iatOffsetS ?? 0)
  const jwt = new SignJWT({ jti: `j${++counter}` })
    .setProtectedHeader(kind === 'HS256' ? { alg: 'HS256' } : { alg: 'ES256', kid: 'k1' })
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.lifetimeS ?? 3600))
    .setIssuer(claims.iss ?? issuer)
    .setAudience(claims.aud ?? audience)
  if (claims.sub !== null) jwt.setSubject(claims.sub ?? 'agent-a')
  return jwt.sign(key ?? (kind === 'HS256' ? testSecret : es256.privateKey))
}

function setup(kind: 'HS256' | 'ES256', extra: Partial<PushVerifyOptions> = {}) {
  const registry = createRegistry()
  registries.push(registry)
  registry.scope('agent-a')
  registry.scope('agent-b')
  const events = record(registry, 'push')
  const handler = createTokenPushHandler({
    registry,
    scopeId: (request) => /^\/agents\/([^/]+)\/token$/.exec(new URL(request.url).pathname)?.[1],
    verify: {
      key: kind === 'HS256' ? testSecret : es256.jwks,
      issuer,
      audience,
      algorithms: [kind],
      ...extra,
    },
  })
  return { registry, handler, events }
}

function push(handler: TokenPushHandler, body: unknown, init: RequestInit & { path?: string } = {}): Promise<Response> {
  const { path = '/agents/agent-a/token', ...rest } = init
  return handler(
    new Request(`http://127.0.0.1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body:
        typeof body === 'string' || body instanceof Uint8Array || body instanceof ReadableStream
          ? (body as BodyInit)
          : JSON.stringify(body),
      ...rest,
    }),
  )
}

type Case = [
  status: number,
  error: string,
  name: string,
  make: (kind: 'HS256' | 'ES256') => Promise<[body: unknown, init?: RequestInit & { path?: string }]>,
]

const big = 'x'.repeat(17 * 1024)
const cases: Case[] = [
  [405, 'method_not_allowed', 'GET', async () => [{}, { method: 'GET', body: null }] as never],
  [405, 'method_not_allowed', 'PUT', async (k) => [{ token: await sign(k) }, { method: 'PUT' }]],
  [
    415,
    'unsupported_media_type',
    'text/plain',
    async (k) => [{ token: await sign(k) }, { headers: { 'content-type': 'text/plain' } }],
  ],
  [415, 'unsupported_media_type', 'no content type', async (k) => [{ token: await sign(k) }, { headers: {} }]],
  [413, 'payload_too_large', 'a 17 KiB body', async () => [{ token: big }]],
  [
    413,
    'payload_too_large',
    'a 17 KiB stream without content-length',
    async () => [
      new ReadableStream({
        start(controller) {
          for (let i = 0; i < 17; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)))
          controller.close()
        },
      }) as never,
      { duplex: 'half' } as RequestInit,
    ],
  ],
  [400, 'invalid_request', 'not JSON', async () => ['{"token":']],
  [400, 'invalid_request', 'a JSON array', async () => [[1, 2]]],
  [400, 'invalid_request', 'no token', async () => [{ jwt: 'x' }]],
  [400, 'invalid_request', 'a token that is not a string', async () => [{ token: 42 }]],
  [400, 'invalid_request', 'an empty token', async () => [{ token: '' }]],
  [400, 'invalid_request', 'a malformed JWT', async () => [{ token: 'aaa.%%%.ccc' }]],
  [400, 'invalid_request', 'invalid UTF-8', async () => [new Uint8Array([0x7b, 0xff, 0x7d]) as never]],
  [
    404,
    'unknown_scope',
    'an unknown scope',
    async (k) => [{ token: await sign(k) }, { path: '/agents/agent-z/token' }],
  ],
  [404, 'unknown_scope', 'a URL without a scope', async (k) => [{ token: await sign(k) }, { path: '/elsewhere' }]],
  [
    401,
    'invalid_token',
    'another key',
    async (k) => [
      {
        token: await sign(
          k,
          {},
          k === 'HS256'
            ? new TextEncoder().encode('another secret of 32 bytes or more!!')
            : (await generateKeyPair('ES256')).privateKey,
        ),
      },
    ],
  ],
  [401, 'invalid_token', 'another issuer', async (k) => [{ token: await sign(k, { iss: 'https://evil.test' }) }]],
  [401, 'invalid_token', 'another audience', async (k) => [{ token: await sign(k, { aud: 'others' }) }]],
  [401, 'invalid_token', 'an opaque token', async () => [{ token: 'opaque-token' }]],
  [403, 'wrong_scope', "another scope's token", async (k) => [{ token: await sign(k, { sub: 'agent-b' }) }]],
  [403, 'wrong_scope', 'no sub', async (k) => [{ token: await sign(k, { sub: null as never }) }]],
  [409, 'stale_token', 'an expired token', async (k) => [{ token: await sign(k, { iatOffsetS: -7200 }) }]],
  [
    403,
    'wrong_scope',
    'an expired token of another scope (the scope is checked first)',
    async (k) => [{ token: await sign(k, { sub: 'agent-b', iatOffsetS: -7200 }) }],
  ],
]

describe('createTokenPushHandler', () => {
  for (const kind of ['HS256', 'ES256'] as const) {
    describe(kind, () => {
      it.each(cases)('answers %i %s for %s, and changes nothing', async (status, error, _, make) => {
        const { registry, handler, events } = setup(kind)
        const current = await sign(kind, { lifetimeS: 1800 })
        expect(registry.setToken('agent-a', current)).toBe(true)
        const [body, init] = await make(kind)
        const response = await push(handler, body, init)
        expect(response.status).toBe(status)
        const json = (await response.json()) as { error: string; message: string }
        expect(json.error).toBe(error)
        expect(typeof json.message).toBe('string')
        if (
          typeof body === 'object' &&
          body !== null &&
          'token' in body &&
          typeof body.token === 'string' &&
          body.token
        ) {
          expect(json.message).not.toContain(body.token.slice(0, 20))
        }
        if (status === 405) expect(response.headers.get('allow')).toBe('POST')
        expect(registry.get('agent-a')?.tokens.current?.accessToken).toBe(current)
        expect(registry.get('agent-b')?.tokens.current).toBeUndefined()
        // Every outcome names the scope once the URL names a known one.
        expect(events).toEqual([{ id: status === 404 ? undefined : 'agent-a', status }])
      })

      it('answers 409 for a token that is not newer, and 204 for a newer one, which the scope then holds', async () => {
        const { registry, handler, events } = setup(kind)
        const current = await sign(kind, { lifetimeS: 3600 })
        const older = await sign(kind, { lifetimeS: 1800 })
        const newer = await sign(kind, { lifetimeS: 7200 })
        expect((await push(handler, { token: current })).status).toBe(204)
        expect((await push(handler, { token: current })).status).toBe(409)
        expect((await push(handler, { token: older })).status).toBe(409)
        const applied = await push(handler, { token: newer })
        expect([applied.status, await applied.text()]).toEqual([204, ''])
        expect(registry.get('agent-a')?.tokens.current?.accessToken).toBe(newer)
        expect(events).toEqual([
          { id: 'agent-a', status: 204 },
          { id: 'agent-a', status: 409 },
          { id: 'agent-a', status: 409 },
          { id: 'agent-a', status: 204 },
        ])
      })
    })
  }

  it('checks a claim other than sub, or none', async () => {
    const registry = createRegistry()
    registries.push(registry)
    registry.scope('session-1')
    const byClaim = createTokenPushHandler({ registry, scopeId: () => 'session-1', scopeClaim: 'sid' })
    const unchecked = createTokenPushHandler({ registry, scopeId: () => 'session-1', scopeClaim: false })
    const token = async (claims: Record<string, unknown>, lifetime: number) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + lifetime)
        .sign(testSecret)
    expect((await push(byClaim, { token: await token({ sid: 'session-2' }, 60) })).status).toBe(403)
    expect((await push(byClaim, { token: await token({ sid: 'session-1' }, 60) })).status).toBe(204)
    expect((await push(unchecked, { token: await token({}, 120) })).status).toBe(204)
  })

  it("maps a provider's expectedClaims refusal to 403", async () => {
    const registry = createRegistry()
    registries.push(registry)
    registry.scope('agent-a', { expectedClaims: { tier: 'gold' } })
    const handler = createTokenPushHandler({ registry, scopeId: () => 'agent-a' })
    expect((await push(handler, { token: await sign('HS256') })).status).toBe(403)
  })

  it('never answers 5xx, never throws, and changes the token only on 204, whatever arrives', async () => {
    // Two handlers get every request: one verifying signatures, one that only decodes (for callers
    // behind mTLS), which hands parseToken and the scope check whatever claims arrive.
    const { registry, handler } = setup('HS256')
    const current = await sign('HS256', { lifetimeS: 1800 })
    registry.setToken('agent-a', current)
    const valid = await sign('HS256', { lifetimeS: 7200 })
    const trusting = createRegistry()
    registries.push(trusting)
    trusting.scope('agent-a').tokens.setToken(current)
    trusting.scope('agent-b')
    const decodeOnly = createTokenPushHandler({
      registry: trusting,
      scopeId: (request) => /^\/agents\/([^/]+)\/token$/.exec(new URL(request.url).pathname)?.[1],
    })
    const now = Math.floor(Date.now() / 1000)
    const claimValue = fc.oneof(
      fc.integer({ min: now - 7200, max: now + 86_400 }),
      fc.double(),
      fc.constantFrom(1e308, -1e308, 0, 2 ** 53, 'agent-a', 'agent-b', '', '1700000000'),
      fc.string({ maxLength: 8 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
    )
    const claims = fc.record(
      {
        sub: fc.oneof(fc.constantFrom('agent-a', 'agent-b'), claimValue),
        exp: claimValue,
        iat: claimValue,
        nbf: claimValue,
        iss: fc.oneof(fc.constant(issuer), claimValue),
        aud: fc.oneof(fc.constant(audience), claimValue),
      },
      { requiredKeys: [] },
    )
    const segment = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url')
    // Signed with the right key, with claims of every type: some verify, most do not.
    const signedPool = await Promise.all(
      fc
        .sample(claims, { numRuns: 40, seed: 9 })
        .map((c) => new SignJWT(c as Record<string, unknown>).setProtectedHeader({ alg: 'HS256' }).sign(testSecret)),
    )
    const jwtShaped = fc.oneof(
      claims.map((c) => `${segment({ alg: 'none' })}.${segment(c)}.`),
      fc.tuple(fc.jsonValue(), fc.jsonValue()).map(([h, c]) => `${segment(h)}.${segment(c)}.sig`),
      fc.constantFrom(...signedPool),
    )
    // Weighted towards what reaches the token: a JSON POST, most often carrying a JWT-shaped token.
    const method = fc.oneof(
      { arbitrary: fc.constant('POST'), weight: 6 },
      fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'post'),
    )
    const contentType = fc.oneof(
      { arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8'), weight: 4 },
      fc.constantFrom('APPLICATION/JSON', 'text/plain', 'application/jsonx', ''),
    )
    const body = fc.oneof(
      { arbitrary: fc.record({ token: jwtShaped }).map((v) => JSON.stringify(v)), weight: 4 },
      fc.string(),
      fc.json(),
      fc.constant(JSON.stringify({ token: valid })),
      fc.constant(JSON.stringify({ token: current })),
      fc.record({ token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }).map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 20_000 }),
    )
    const path = fc.constantFrom(
      '/agents/agent-a/token',
      '/agents/agent-b/token',
      '/agents/nope/token',
      '/',
      '/agents//token',
    )
    const extraHeaders = fc.dictionary(
      fc.constantFrom('x-a', 'content-length', 'authorization', 'content-encoding'),
      fc.constantFrom('1', '99999', 'gzip', 'Bearer x', '0'),
    )
    let applied = 0
    let appliedUnverified = 0
    await fc.assert(
      fc.asyncProperty(method, contentType, body, path, extraHeaders, async (m, type, b, p, extra) => {
        const request = () =>
          new Request(`http://127.0.0.1${p}`, {
            method: m,
            headers: { ...(type === '' ? {} : { 'content-type': type }), ...extra },
            ...(m !== 'GET' ? { body: b as BodyInit } : {}),
          })
        try {
          request()
        } catch {
          return // not a request a runtime would deliver
        }
        for (const [target, handle] of [
          [registry, handler],
          [trusting, decodeOnly],
        ] as const) {
          const before = target.get('agent-a')?.tokens.current?.accessToken
          const response = await handle(request())
          expect(response.status).toBeLessThan(500)
          expect([204, 400, 401, 403, 404, 405, 409, 413, 415]).toContain(response.status)
          const after = target.get('agent-a')?.tokens.current?.accessToken
          if (response.status !== 204) expect(after).toBe(before)
          else if (handle === handler) applied++
          else appliedUnverified++
        }
      }),
      { numRuns: 10_000 },
    )
    expect(applied).toBeLessThanOrEqual(1)
    // The decode-only handler applies what it is given when it names the scope and is newer.
    expect(appliedUnverified).toBeGreaterThanOrEqual(applied)
  }, 120_000)

  it('validates its options', () => {
    const registry = createRegistry()
    registries.push(registry)
    expect(() => createTokenPushHandler({} as never)).toThrow('needs a registry')
    expect(() => createTokenPushHandler({ registry, scopeId: 'x' as never })).toThrow('scopeId must be a function')
    expect(() => createTokenPushHandler({ registry, scopeId: () => 'a', maxBodyBytes: 0 })).toThrow(RangeError)
    expect(() => createTokenPushHandler({ registry, scopeId: () => 'a', scopeClaim: '' })).toThrow(TypeError)
    expect(() => createTokenPushHandler({ registry, scopeId: () => 'a', verify: {} })).toThrow('verify.key')
  })

  it('treats a scopeId that throws as no scope', async () => {
    const registry = createRegistry()
    registries.push(registry)
    registry.scope('agent-a')
    const handler = createTokenPushHandler({
      registry,
      scopeId: () => {
        throw new Error('bad URL')
      },
    })
    expect((await push(handler, { token: await sign('HS256') })).status).toBe(404)
  })
})
