import { createHash } from 'node:crypto'
import { inspect } from 'node:util'
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
} from 'jose'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import {
  clientCredentials,
  createDPoP,
  createMemoryStore,
  createTokenProvider,
  type DPoP,
  RefreshingClient,
} from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { type Hit, json, startServer, type TestServer } from '../helpers/servers.js'

async function verified(proof: string): Promise<Record<string, unknown>> {
  const { jwk } = decodeProtectedHeader(proof) as { jwk: JWK }
  const { payload, protectedHeader } = await jwtVerify(proof, jwk, { typ: 'dpop+jwt' })
  expect(protectedHeader.jwk).toEqual(jwk)
  return payload
}

const proofOf = (hit: Hit | undefined) => String(hit?.headers['dpop'])
const ath = (token: string) => createHash('sha256').update(token).digest('base64url')

describe('createDPoP', () => {
  it('makes a non-extractable ES256 key whose thumbprint is the RFC 7638 one', async () => {
    const generate = vi.spyOn(crypto.subtle, 'generateKey')
    const dpop = await createDPoP()
    expect(generate.mock.calls.map(([algorithm, extractable]) => [algorithm, extractable])).toEqual([
      [{ name: 'ECDSA', namedCurve: 'P-256' }, false],
    ])
    const pair = (await generate.mock.results[0]?.value) as CryptoKeyPair
    expect(pair.privateKey.extractable).toBe(false)
    generate.mockRestore()
    const server = await startServer((_hit, response) => json(response, 200, {}))
    const client = new RefreshingClient({ tokens: { initialToken: 'opaque-token' }, baseUrl: server.origin, dpop })
    onTestFinished(() => client.dispose())
    await client.fetch('/a?query=1#fragment', { method: 'post' })
    const proof = proofOf(server.hits[0])
    const header = decodeProtectedHeader(proof) as { alg: string; typ: string; jwk: JWK }
    expect(header.alg).toBe('ES256')
    expect(Object.keys(header.jwk).sort()).toEqual(['crv', 'kty', 'x', 'y'])
    expect(await calculateJwkThumbprint(header.jwk)).toBe(dpop.thumbprint)
    const claims = await verified(proof)
    expect(Object.keys(claims).sort()).toEqual(['ath', 'htm', 'htu', 'iat', 'jti'])
    // fetch upper-cases the six standard methods (`patch` it sends as given): the proof says what is sent.
    expect(claims).toMatchObject({ htm: 'POST', htu: `${server.origin}/a`, ath: ath('opaque-token') })
    expect(server.hits[0]?.method).toBe('POST')
    expect(server.hits[0]?.headers.authorization).toBe('DPoP opaque-token')
  })

  it('takes a key pair and infers or checks its algorithm', async () => {
    for (const algorithm of ['EdDSA', 'RS256', 'PS256', 'ES256'] as const) {
      const keyPair = await generateKeyPair(algorithm)
      const dpop = await createDPoP({ keyPair })
      expect(dpop.thumbprint).toBe(await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)))
      expect(inspect(dpop)).toBe(`DPoP { thumbprint: '${dpop.thumbprint}', algorithm: '${algorithm}' }`)
      expect(JSON.stringify(dpop)).toBe(JSON.stringify({ thumbprint: dpop.thumbprint, algorithm }))
    }
    const ec = await generateKeyPair('ES256')
    await expect(createDPoP({ keyPair: ec, algorithm: 'RS256' })).rejects.toThrow(
      new TypeError('createDPoP: algorithm does not fit keyPair (ES256: P-256, EdDSA: Ed25519, RS256, PS256)'),
    )
    await expect(createDPoP({ algorithm: 'HS256' as never })).rejects.toThrow(TypeError)
    await expect(createDPoP({ keyPair: { privateKey: ec.publicKey, publicKey: ec.publicKey } })).rejects.toThrow(
      'createDPoP: keyPair must hold a private and a public CryptoKey',
    )
    const es384 = await generateKeyPair('ES384')
    await expect(createDPoP({ keyPair: es384 })).rejects.toThrow(TypeError)
  })

  it('checks the dpop option where it is given', () => {
    expect(
      () => new RefreshingClient({ tokens: { initialToken: 't' }, baseUrl: 'http://x', dpop: {} as DPoP }),
    ).toThrow(new TypeError('dpop must be made by createDPoP()'))
    expect(() =>
      clientCredentials({ tokenUrl: 'http://x/token', clientId: 'c', clientSecret: 's', dpop: { thumbprint: 'x' } }),
    ).toThrow(new TypeError('clientCredentials: dpop must be made by createDPoP()'))
  })
})

describe('a DPoP client against scripted servers', () => {
  async function setup(handler: (hit: Hit, response: Parameters<typeof json>[0]) => void) {
    const server = await startServer(handler)
    const dpop = await createDPoP()
    let fetches = 0
    const tokens = createTokenProvider({
      name: 'dpop-agent',
      fetchToken: async () => {
        fetches++
        return mint()
      },
    })
    const client = new RefreshingClient({ tokens, baseUrl: server.origin, dpop })
    onTestFinished(() => client.dispose())
    onTestFinished(() => tokens.dispose())
    const events: string[] = []
    client.on('challenge', (e) => events.push(`challenge ${e.error}`))
    client.on('retry', () => events.push('retry'))
    await tokens.getToken()
    return { server, client, events, refreshes: () => fetches - 1 }
  }

  it('nonce, then invalid_token, then nonce again: 3 sends, the last answer returned', async () => {
    const script = ['use_dpop_nonce', 'invalid_token', 'use_dpop_nonce', 'never reached']
    const { server, client, events, refreshes } = await setup((_hit, response) => {
      const error = script[server.hits.length - 1] as string
      response.setHeader('dpop-nonce', `n${server.hits.length}`)
      response.setHeader('www-authenticate', `DPoP error="${error}"`)
      json(response, 401, { error })
    })
    const response = await client.fetch('/x', { method: 'POST', body: 'same bytes' })
    expect(response.status).toBe(401)
    expect(server.hits.map((hit) => hit.body.toString())).toEqual(['same bytes', 'same bytes', 'same bytes'])
    expect(refreshes()).toBe(1)
    expect(events).toEqual(['challenge invalid_token', 'retry'])
    const claims = await Promise.all(server.hits.map((hit) => verified(proofOf(hit))))
    expect(claims.map((c) => c['nonce'])).toEqual([undefined, 'n1', 'n2'])
    expect(new Set(claims.map((c) => c['jti'])).size).toBe(3)
    // The replay carried the fresh token, and its proof the fresh token's hash.
    const [first, , third] = server.hits.map((hit) => String(hit.headers.authorization).slice(5))
    expect(third).not.toBe(first)
    expect(claims[2]?.['ath']).toBe(ath(third as string))
  })

  it('invalid_dpop_proof never refreshes; a nonce from any answer is used next time', async () => {
    const { server, client, events, refreshes } = await setup((_hit, response) => {
      response.setHeader('dpop-nonce', 'from-the-401')
      response.setHeader('www-authenticate', 'DPoP error="invalid_dpop_proof", algs="ES256"')
      json(response, 401, {})
    })
    expect((await client.fetch('/x')).status).toBe(401)
    expect((await client.fetch('/y')).status).toBe(401)
    expect(server.hits).toHaveLength(2)
    expect(refreshes()).toBe(0)
    expect(events).toEqual(['challenge invalid_dpop_proof', 'challenge invalid_dpop_proof'])
    expect((await verified(proofOf(server.hits[1])))['nonce']).toBe('from-the-401')
  })

  it('a same-origin redirect gets a proof for its own URL; a cross-origin one carries neither token nor proof', async () => {
    const other = await startServer((_hit, response) => json(response, 200, {}))
    const { server, client } = await setup((hit, response) => {
      if (hit.path === '/from') response.writeHead(307, { location: '/to?x=1' }).end()
      else if (hit.path === '/to?x=1') response.writeHead(302, { location: other.url('/away') }).end()
      else json(response, 500, {})
    })
    expect((await client.fetch('/from', { method: 'PUT', body: 'b' })).status).toBe(200)
    expect(server.hits.map((hit) => hit.path)).toEqual(['/from', '/to?x=1'])
    expect(await verified(proofOf(server.hits[1]))).toMatchObject({ htm: 'PUT', htu: `${server.origin}/to` })
    expect(other.hits[0]?.headers['dpop']).toBeUndefined()
    expect(other.hits[0]?.headers.authorization).toBeUndefined()
  })
})

describe('DPoP-bound tokens and a store', () => {
  it('are shared only by providers holding the same key pair', async () => {
    const token = await startServer(async (_hit, response) => json(response, 200, { access_token: await mint() }))
    const store = createMemoryStore()
    const keyPair = await generateKeyPair('ES256')
    const shared = [await createDPoP({ keyPair }), await createDPoP({ keyPair })]
    const stranger = await createDPoP()
    const provider = (dpop: DPoP) => {
      const made = createTokenProvider({
        name: 'fleet-member',
        store,
        fetchToken: clientCredentials({ tokenUrl: token.url('/token'), clientId: 'c', clientSecret: 's', dpop }),
      })
      onTestFinished(() => made.dispose())
      return made
    }
    const a = await provider(shared[0] as DPoP).getToken()
    expect(await provider(shared[1] as DPoP).getToken()).toBe(a)
    expect(token.hits).toHaveLength(1)
    expect(await provider(stranger).getToken()).not.toBe(a)
    expect(token.hits).toHaveLength(2)
    expect(decodeJwt(proofOf(token.hits[1] as TestServer['hits'][number]))['htu']).toBe(token.url('/token'))
  })
})
