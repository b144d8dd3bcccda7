import { decodeJwt, exportJWK, generateKeyPair } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTokenProvider, type JwtBearerOptions, jwtBearer, type TokenProvider } from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { authRejection, fetchContext } from '../helpers/sources.js'
import { startTokenServer, type TokenServer } from '../helpers/token-server.js'

let server: TokenServer
const providers: TokenProvider[] = []

beforeEach(async () => {
  server = await startTokenServer()
})
afterEach(async () => {
  for (const provider of providers.splice(0)) provider.dispose()
  await server.close()
})

function bearer(options: Partial<JwtBearerOptions> = {}) {
  return jwtBearer({
    tokenUrl: server.tokenUrl,
    clientId: 'workload',
    assertion: async () => mint({ sub: 'repo:acme/app:ref:refs/heads/main' }),
    retry: 0,
    ...options,
  })
}

describe('jwtBearer', () => {
  it('sends an RFC 7523 §2.1 grant: the assertion, the scope, the resource, a public client id', async () => {
    const assertion = await mint({ sub: 'workload' })
    await bearer({ assertion: async () => assertion, scope: 'models:invoke', resource: 'https://api.example.com' })(
      fetchContext(),
    )
    expect([...(server.hits[0]?.form ?? [])]).toEqual([
      ['grant_type', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
      ['assertion', assertion],
      ['scope', 'models:invoke'],
      ['resource', 'https://api.example.com'],
      ['client_id', 'workload'],
    ])
  })

  it('authenticates the client with its own private_key_jwt next to the grant assertion', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true })
    const assertion = await mint({ sub: 'workload' })
    await bearer({ assertion: async () => assertion, privateKey: await exportJWK(privateKey) })(fetchContext())
    const form = server.hits[0]?.form
    expect(form?.get('assertion')).toBe(assertion)
    expect(form?.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    const clientAssertion = decodeJwt(form?.get('client_assertion') ?? '')
    expect([clientAssertion.iss, clientAssertion.sub, clientAssertion.aud]).toEqual([
      'workload',
      'workload',
      server.tokenUrl,
    ])
  })

  it('reads the assertion from its provider for every request', async () => {
    let fetches = 0
    const identity = createTokenProvider({
      fetchToken: async () => {
        fetches++
        return mint({ lifetimeMs: 300_000 })
      },
    })
    providers.push(identity)
    const fetchToken = bearer({ assertion: identity })
    await fetchToken(fetchContext())
    await fetchToken(fetchContext())
    expect(server.hits).toHaveLength(2)
    expect(fetches).toBe(1)
  })

  it('is terminal on invalid_grant for a valid assertion, and not for an expired one, which is not sent again', async () => {
    server.reset(() => ({ status: 400, body: { error: 'invalid_grant' } }))
    expect((await authRejection(bearer()(fetchContext()))).terminal).toBe(true)
    // Expired by our own clock: never sent.
    const expired = await mint({ issuedAt: Date.now() - 600_000, lifetimeMs: 300_000 })
    const error = await authRejection(bearer({ assertion: async () => expired })(fetchContext()))
    expect(error.terminal).toBe(false)
    expect(error.message).toBe(
      "jwtBearer: the assertion has expired (on the token endpoint's clock as estimated) and its source gave no newer one; it was not sent",
    )
    expect(server.hits).toHaveLength(1)
  })

  it('checks its options, naming them', () => {
    expect(() => bearer({ assertion: undefined as never })).toThrow(
      new TypeError('jwtBearer: assertion must be a TokenProvider or an async function that returns a token'),
    )
    expect(() => bearer({ params: { assertion: 'x' } })).toThrow(
      new TypeError('jwtBearer: params.assertion is set by jwtBearer itself'),
    )
    expect(() => bearer({ scope: '' })).toThrow(new TypeError('jwtBearer: scope must be a non-empty string'))
  })
})
