import { inspect } from 'node:util'
import { exportJWK, generateKeyPair, type JWK, jwtVerify } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { clientCredentials, refreshTokenGrant } from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { fetchContext as context } from '../helpers/sources.js'
import { issueToken, startTokenServer, type TokenServer } from '../helpers/token-server.js'

// private_key_jwt against a real token endpoint on 127.0.0.1 that verifies every assertion with
// the public key, as an authorization server does (RFC 7523 §3).
const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
let server: TokenServer
let origin: string

beforeAll(async () => {
  server = await startTokenServer()
  origin = new URL(server.tokenUrl).origin
})
afterAll(() => server.close())
afterEach(() => server.reset())

async function verifyAll(publicKey: CryptoKey, audience: string) {
  const posts = server.hits.filter((hit) => hit.method === 'POST')
  return Promise.all(
    posts.map(async (hit) => {
      expect(hit.headers.authorization).toBeUndefined()
      expect(hit.form.get('client_assertion_type')).toBe(assertionType)
      expect(hit.form.has('client_secret')).toBe(false)
      const { payload, protectedHeader } = await jwtVerify(hit.form.get('client_assertion') ?? '', publicKey, {
        audience,
        issuer: 'agent-7',
        subject: 'agent-7',
      })
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300)
      expect(payload.exp! - payload.iat!).toBeGreaterThan(0)
      expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5)
      return { jti: payload.jti, header: protectedHeader }
    }),
  )
}

describe('private_key_jwt', () => {
  it.each([
    ['ES256', 'CryptoKey'],
    ['RS256', 'JWK'],
    ['PS256', 'CryptoKey'],
    ['EdDSA', 'JWK'],
  ] as const)(
    'signs %s assertions (%s) that verify with the public key, a fresh jti per request',
    async (alg, form) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
      const key = form === 'JWK' ? await exportJWK(privateKey) : privateKey
      const fetchToken = clientCredentials({
        tokenUrl: server.tokenUrl,
        clientId: 'agent-7',
        privateKey: key,
        ...(alg === 'PS256' ? { algorithm: 'PS256' as const } : {}),
        keyId: 'k1',
      })
      for (let i = 0; i < 3; i++) await fetchToken(context())
      await Promise.all([fetchToken(context()), fetchToken(context())])
      const verified = await verifyAll(publicKey, server.tokenUrl)
      expect(verified).toHaveLength(5)
      expect(new Set(verified.map((v) => v.jti)).size).toBe(5)
      for (const { header } of verified) expect(header).toEqual({ alg, kid: 'k1' })
    },
  )

  it('signs every attempt afresh: a request retried after a 500 carries a new jti', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    let calls = 0
    server.reset(async (hit) => (++calls === 1 ? { status: 500, body: { error: 'server_error' } } : issueToken(hit)))
    await clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'agent-7', privateKey })(context())
    const verified = await verifyAll(publicKey, server.tokenUrl)
    expect(verified).toHaveLength(2)
    expect(verified[0]?.jti).not.toBe(verified[1]?.jti)
  })

  it('addresses the issuer when it is known, given or discovered', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const issuer = `${origin}/tenant`
    await clientCredentials({ tokenUrl: server.tokenUrl, issuer, clientId: 'agent-7', privateKey })(context())
    expect(await verifyAll(publicKey, issuer)).toHaveLength(1)

    server.reset(async (hit) =>
      hit.method === 'GET'
        ? { body: { issuer, token_endpoint: server.tokenUrl } }
        : { body: { access_token: await mint(), expires_in: 60 } },
    )
    await refreshTokenGrant({ issuer, clientId: 'agent-7', privateKey, refreshToken: 'rt-1' })(context())
    expect(server.hits.map((hit) => hit.method)).toEqual(['GET', 'POST'])
    expect(await verifyAll(publicKey, issuer)).toHaveLength(1)
  })

  it('refuses public or unsuitable keys at once, naming the problem and never the key', async () => {
    const es = await generateKeyPair('ES256', { extractable: true })
    const es384 = await generateKeyPair('ES384', { extractable: true })
    const privateJwk = await exportJWK(es.privateKey)
    const publicJwk = await exportJWK(es.publicKey)
    const base = { tokenUrl: 'https://auth.example.com/token', clientId: 'agent-7' }
    const cases: [Record<string, unknown>, string][] = [
      [{ privateKey: es.publicKey }, 'privateKey is a public key: a client assertion needs the private key'],
      [{ privateKey: publicJwk }, 'privateKey is a public JWK (no "d"): a client assertion needs the private key'],
      [{ privateKey: es384.privateKey }, 'privateKey (ECDSA P-384) fits none of ES256, RS256, PS256, EdDSA'],
      [{ privateKey: await exportJWK(es384.privateKey) }, 'privateKey (EC P-384) fits none of'],
      [{ privateKey: es.privateKey, algorithm: 'RS256' }, 'privateKey (ECDSA P-256) cannot sign RS256'],
      [{ privateKey: privateJwk, algorithm: 'EdDSA' }, 'privateKey (EC P-256) cannot sign EdDSA'],
      [{ privateKey: { ...privateJwk, alg: 'ES256' }, algorithm: 'PS256' }, 'privateKey is for ES256, not'],
      [{ privateKey: new Uint8Array(32) }, 'privateKey must be a CryptoKey or a private JWK'],
      [{ privateKey: privateJwk, algorithm: 'HS256' }, "algorithm must be 'ES256', 'RS256', 'PS256' or 'EdDSA'"],
      [{ privateKey: privateJwk, keyId: '' }, 'keyId must be a non-empty string'],
      [{ privateKey: privateJwk, clientSecret: 's3cret' }, 'give clientSecret or privateKey, not both'],
      [{ privateKey: privateJwk, authMethod: 'client_secret_post' }, "privateKey needs authMethod 'private_key_jwt'"],
      [{ authMethod: 'private_key_jwt', clientSecret: 's3cret' }, "authMethod 'private_key_jwt' needs a privateKey"],
      [{ clientSecret: 's3cret', keyId: 'k1' }, "keyId and algorithm belong to authMethod 'private_key_jwt'"],
    ]
    for (const [options, message] of cases) {
      let error: unknown
      try {
        clientCredentials({ ...base, ...options })
      } catch (thrown) {
        error = thrown
      }
      expect(error, message).toBeInstanceOf(TypeError)
      expect((error as Error).message).toContain(`clientCredentials: ${message}`)
      expect((error as Error).message).not.toContain(privateJwk.d)
    }
  })

  it('makes a key that WebCrypto refuses a terminal error at the first request, which is never sent', async () => {
    const broken = { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', d: 'AAAA' }
    const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'agent-7', privateKey: broken })
    const error = await fetchToken(context()).then(
      () => undefined,
      (thrown: unknown) => thrown as { code: string; terminal: boolean; message: string },
    )
    expect(error?.code).toBe('ERR_TOKEN_SOURCE')
    expect(error?.terminal).toBe(true)
    expect(error?.message).toBe('clientCredentials: privateKey could not be imported as an ES256 key')
    expect(server.hits).toHaveLength(0)
  })

  it('keeps the key out of every inspected object', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true })
    const jwk: JWK = await exportJWK(privateKey)
    const fetchToken = clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'agent-7', privateKey: jwk })
    expect(inspect(fetchToken, { depth: 10, showHidden: true })).not.toContain(jwk.d)
    expect(JSON.stringify(fetchToken)).toBeUndefined()
  })
})
