import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createTokenProvider,
  isAuthError,
  OAuth2Error,
  type TokenExchangeOptions,
  type TokenProvider,
  tokenExchange,
} from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { authRejection, fetchContext } from '../helpers/sources.js'
import { type Handler, type Reply, startTokenServer, type TokenServer } from '../helpers/token-server.js'

const jwtType = 'urn:ietf:params:oauth:token-type:jwt'
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token'

let server: TokenServer
const providers: TokenProvider[] = []

beforeEach(async () => {
  server = await startTokenServer()
})
afterEach(async () => {
  for (const provider of providers.splice(0)) provider.dispose()
  await server.close()
})

function exchange(options: Partial<TokenExchangeOptions> = {}) {
  return tokenExchange({
    tokenUrl: server.tokenUrl,
    clientId: 'agent',
    subjectToken: async () => mint({ sub: 'system:serviceaccount:ci:deployer' }),
    retry: 0,
    ...options,
  })
}

function track(provider: TokenProvider): TokenProvider {
  providers.push(provider)
  return provider
}

const exchanged: Handler = async () => ({
  body: {
    access_token: await mint({ sub: 'api' }),
    token_type: 'Bearer',
    expires_in: 600,
    issued_token_type: accessTokenType,
  },
})

const refuse =
  (error: string, description?: string): Handler =>
  () => ({ status: 400, body: { error, ...(description === undefined ? {} : { error_description: description }) } })

/** A server whose clock is `offsetMs` ahead of ours, as its `Date` header says. */
const withDate =
  (offsetMs: number, handler: Handler): Handler =>
  async (hit) => {
    const reply = (await handler(hit)) as Exclude<Reply, 'hang' | 'reset'>
    return { ...reply, headers: { ...reply.headers, date: new Date(Date.now() + offsetMs).toUTCString() } }
  }

describe('tokenExchange', () => {
  it('sends an RFC 8693 request and keeps the issued_token_type', async () => {
    server.reset(exchanged)
    const subject = await mint({ sub: 'system:serviceaccount:ci:deployer' })
    const tokens = track(
      createTokenProvider({
        fetchToken: exchange({
          subjectToken: async () => subject,
          audience: ['https://api.example.com', 'billing'],
          resource: 'https://api.example.com/v1',
          scope: 'deploy read',
          requestedTokenType: accessTokenType,
        }),
      }),
    )
    const set = await tokens.getTokenSet()
    expect(set.issuedTokenType).toBe(accessTokenType)
    expect(server.hits).toHaveLength(1)
    expect([...(server.hits[0]?.form ?? [])]).toEqual([
      ['grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      ['subject_token', subject],
      ['subject_token_type', jwtType],
      ['audience', 'https://api.example.com'],
      ['audience', 'billing'],
      ['scope', 'deploy read'],
      ['requested_token_type', accessTokenType],
      ['resource', 'https://api.example.com/v1'],
      ['client_id', 'agent'],
    ])
    expect(server.hits[0]?.headers.authorization).toBeUndefined()
  })

  it('sends an actor token for delegation, with its type, and a client secret as Basic', async () => {
    server.reset(exchanged)
    const actor = await mint({ sub: 'agent-7' })
    await exchange({
      subjectTokenType: accessTokenType,
      actorToken: async () => actor,
      actorTokenType: 'urn:ietf:params:oauth:token-type:id_token',
      clientSecret: 's3cret',
    })(fetchContext())
    const form = server.hits[0]?.form
    expect(form?.get('subject_token_type')).toBe(accessTokenType)
    expect(form?.get('actor_token')).toBe(actor)
    expect(form?.get('actor_token_type')).toBe('urn:ietf:params:oauth:token-type:id_token')
    expect(form?.has('client_id')).toBe(false)
    expect(server.hits[0]?.headers.authorization).toBe(`Basic ${btoa('agent:s3cret')}`)
  })

  it('asks the subject provider for every exchange, and only the exchanged token drives refreshes', async () => {
    server.reset(exchanged)
    let subjectFetches = 0
    const subject = track(
      createTokenProvider({
        fetchToken: async () => {
          subjectFetches++
          return mint({ sub: 'pod', lifetimeMs: 3_600_000 })
        },
      }),
    )
    let asked = 0
    const counting: TokenProvider = new Proxy(subject, {
      get: (target, key) =>
        key === 'getToken'
          ? (...args: Parameters<TokenProvider['getToken']>) => {
              asked++
              return target.getToken(...args)
            }
          : Reflect.get(target, key),
    })
    const fetchToken = exchange({ subjectToken: counting })
    for (let i = 0; i < 3; i++) await fetchToken(fetchContext())
    expect(asked).toBe(3)
    expect(subjectFetches).toBe(1)
    expect(new Set(server.hits.map((hit) => hit.form.get('subject_token'))).size).toBe(1)
  })

  it('checks its options, naming them', () => {
    expect(() => exchange({ subjectToken: 'a-token' as never })).toThrow(
      new TypeError('tokenExchange: subjectToken must be a TokenProvider or an async function that returns a token'),
    )
    expect(() => exchange({ actorTokenType: jwtType })).toThrow(
      new TypeError('tokenExchange: actorTokenType needs an actorToken'),
    )
    expect(() => exchange({ audience: [] })).toThrow(
      new TypeError('tokenExchange: audience must be a string or a non-empty array of strings'),
    )
    expect(() => exchange({ params: { subject_token: 'x' } })).toThrow(
      new TypeError('tokenExchange: params.subject_token is set by tokenExchange itself'),
    )
    expect(() => exchange({ requestedTokenType: '' })).toThrow(
      new TypeError('tokenExchange: requestedTokenType must be a non-empty string'),
    )
  })
})

describe('a refused exchange', () => {
  it('is terminal for invalid_grant and invalid_target when the subject was valid', async () => {
    for (const code of ['invalid_grant', 'invalid_target']) {
      server.reset(refuse(code, 'no trust relationship'))
      const error = await authRejection(exchange()(fetchContext()))
      expect(error).toBeInstanceOf(OAuth2Error)
      expect((error as OAuth2Error).error).toBe(code)
      expect(error.terminal).toBe(true)
      expect(error.message).toBe(
        `tokenExchange: token endpoint ${server.tokenUrl} answered 400 ${code}: no trust relationship`,
      )
    }
  })

  it('is not terminal when the subject had expired by the server clock, and such a subject is not sent again', async () => {
    // The server's clock is an hour ahead: a subject with 30 minutes left on ours has expired on its.
    server.reset(withDate(3_600_000, refuse('invalid_grant', 'subject token expired')))
    const fetchToken = exchange({ subjectToken: async () => mint({ lifetimeMs: 1_800_000 }) })
    const first = await authRejection(fetchToken(fetchContext()))
    expect(first.terminal).toBe(false)
    expect(first.message).toBe(
      `tokenExchange: token endpoint ${server.tokenUrl} answered 400 invalid_grant: subject token expired (not terminal: the subjectToken had expired; a new one is tried)`,
    )
    const second = await authRejection(fetchToken(fetchContext()))
    expect(isAuthError(second, 'ERR_TOKEN_SOURCE')).toBe(true)
    expect(second.terminal).toBe(false)
    expect(second.message).toBe(
      "tokenExchange: the subjectToken has expired (on the token endpoint's clock as estimated) and its source gave no newer one; it was not sent",
    )
    expect(server.hits).toHaveLength(1)
  })

  it('asks a provider once more, forced, when its subject has expired by the server clock', async () => {
    server.reset(withDate(3_600_000, exchanged))
    let lifetimeMs = 1_800_000
    let subjectFetches = 0
    const subject = track(
      createTokenProvider({
        fetchToken: async () => {
          subjectFetches++
          return mint({ lifetimeMs })
        },
      }),
    )
    const fetchToken = exchange({ subjectToken: subject })
    await fetchToken(fetchContext()) // no estimate yet: sent; the answer's Date teaches the offset
    lifetimeMs = 7_200_000
    await fetchToken(fetchContext())
    expect(subjectFetches).toBe(2)
    expect(server.hits).toHaveLength(2)
    expect(server.hits[0]?.form.get('subject_token')).not.toBe(server.hits[1]?.form.get('subject_token'))
  })

  it('is not terminal for an opaque subject, whose provider is told to replace it', async () => {
    server.reset(refuse('invalid_grant'))
    let subjectFetches = 0
    const subject = track(
      createTokenProvider({
        fetchToken: async () => `opaque-subject-${++subjectFetches}`,
      }),
    )
    const fetchToken = exchange({ subjectToken: subject })
    const error = await authRejection(fetchToken(fetchContext()))
    expect(error.terminal).toBe(false)
    expect(error.message).toContain('(not terminal: the subjectToken has no exp to check; a new one is tried)')
    await authRejection(fetchToken(fetchContext()))
    expect(server.hits.map((hit) => hit.form.get('subject_token'))).toEqual(['opaque-subject-1', 'opaque-subject-2'])
  })

  it('keeps invalid_client terminal and invalid_request not, whatever the subject', async () => {
    server.reset(() => ({ status: 401, body: { error: 'invalid_client' } }))
    expect((await authRejection(exchange({ subjectToken: async () => 'opaque' })(fetchContext()))).terminal).toBe(true)
    server.reset(refuse('invalid_request'))
    expect((await authRejection(exchange()(fetchContext()))).terminal).toBe(false)
  })

  it('never quotes the subject or the actor, even when the server echoes them', async () => {
    const subject = await mint({ sub: 'pod' })
    server.reset((hit) => ({
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: `bad ${hit.form.get('subject_token')} for ${hit.form.get('actor_token')}`,
      },
    }))
    const error = await authRejection(
      exchange({ subjectToken: async () => subject, actorToken: async () => 'actor+opaque/token' })(fetchContext()),
    )
    expect(error.message).toContain('bad [redacted] for [redacted]')
    expect(error.message).not.toContain(subject)
    expect(error.terminal).toBe(false) // the actor is opaque
  })
})

describe('a failing subject', () => {
  it('is not terminal, and what a foreign function threw is named, never quoted', async () => {
    const error = await authRejection(
      exchange({
        subjectToken: async () => {
          throw new RangeError('secret-looking text')
        },
      })(fetchContext()),
    )
    expect(error.message).toBe('tokenExchange: the subjectToken could not be had: RangeError')
    expect(error.terminal).toBe(false)
    expect(error.cause).toBeUndefined()
    const empty = await authRejection(exchange({ subjectToken: async () => ' \n' })(fetchContext()))
    expect(empty.message).toBe('tokenExchange: the subjectToken gave an empty string, not a token')
    expect(server.hits).toHaveLength(0)
  })

  it('is terminal when its provider has given up, or was disposed', async () => {
    const gaveUp = track(
      createTokenProvider({
        name: 'ci-identity',
        fetchToken: async () => {
          throw new OAuth2Error('revoked', { error: 'invalid_client', status: 401 })
        },
      }),
    )
    const error = await authRejection(exchange({ subjectToken: gaveUp })(fetchContext()))
    expect(error.terminal).toBe(true)
    expect(error.message).toBe(
      'tokenExchange: the subjectToken could not be had: token provider "ci-identity": refresh failed (attempt 1): revoked',
    )
    const disposed = createTokenProvider({ initialToken: await mint() })
    disposed.dispose()
    expect((await authRejection(exchange({ subjectToken: disposed })(fetchContext()))).terminal).toBe(true)
    expect(server.hits).toHaveLength(0)
  })
})
