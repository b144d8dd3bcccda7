import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientCredentials,
  createTokenProvider,
  type FetchToken,
  type FetchTokenContext,
  refreshTokenGrant,
  type TokenProviderErrorEvent,
} from '../../src/index.js'
import { type Handler, startTokenServer, type TokenServer } from '../helpers/token-server.js'

// Every secret contains SECRET, in each form it is sent in, except the base64 of the Basic header.
const clientSecret = 'SECRET client/secret é+%:'
const encodedSecret = 'SECRET+client%2Fsecret+%C3%A9%2B%25%3A'
const basic = Buffer.from(`svc:${encodedSecret}`, 'latin1').toString('base64')
const refreshToken = 'rt-SECRET-1'

let server: TokenServer

beforeAll(async () => {
  server = await startTokenServer()
})

afterAll(() => server.close())

/** A server that echoes back everything it was sent, as careless servers do. */
const echo =
  (status: number, error = 'invalid_request'): Handler =>
  (hit) => ({
    status,
    body: {
      error,
      error_description: `rejected ${hit.form.get('client_secret')} ${hit.form.get('refresh_token')} ${hit.body} ${hit.headers['authorization']}`,
    },
  })

function context(errors: unknown[]): FetchTokenContext {
  return { signal: new AbortController().signal, reason: 'manual', report: (error) => errors.push(error) }
}

function views(value: unknown): string[] {
  return [
    inspect(value, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
    String(value),
    JSON.stringify(value) ?? '',
    value instanceof Error ? `${value.message} ${value.stack}` : '',
  ]
}

function expectNoSecret(values: unknown[]): void {
  expect(values.length).toBeGreaterThan(0)
  for (const value of values) {
    for (const view of views(value)) {
      expect(view).not.toContain('SECRET')
      expect(view).not.toContain(basic)
      expect(view).not.toContain(encodedSecret)
    }
  }
}

describe('secrets', () => {
  it('never appear in errors, events or the sources themselves, whatever the server says', async () => {
    const sources: FetchToken[] = [
      clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret, timeoutMs: 200 }),
      clientCredentials({
        tokenUrl: server.tokenUrl,
        clientId: 'svc',
        clientSecret,
        authMethod: 'client_secret_post',
        timeoutMs: 200,
      }),
      refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret, refreshToken, timeoutMs: 200 }),
      refreshTokenGrant({
        tokenUrl: server.tokenUrl,
        clientId: 'svc',
        clientSecret,
        refreshToken,
        authMethod: 'client_secret_post',
        timeoutMs: 200,
      }),
    ]
    const handlers: Handler[] = [
      echo(400),
      echo(401, 'invalid_client'),
      echo(400, 'invalid_grant'),
      echo(200),
      echo(503),
      () => ({ status: 500, body: `boom ${clientSecret}` }),
      () => ({ body: `not json ${refreshToken}` }),
      () => 'hang',
    ]
    const errors: unknown[] = []
    for (const handler of handlers) {
      server.reset(handler)
      for (const source of sources) await source({ ...context(errors), reason: 'manual' }).catch((e) => errors.push(e))
    }
    expect(errors).toHaveLength(handlers.length * sources.length)
    expect(server.hits.length).toBeGreaterThan(0)
    // Make sure the servers really did echo the secrets, or the test proves nothing.
    expect(JSON.stringify(server.hits.map((hit) => [hit.body, hit.headers]))).toContain('SECRET')
    expectNoSecret([...errors, ...sources])
  })

  it('never appear in provider errors, events, or a failing onRotate', async () => {
    server.reset(echo(400, 'invalid_grant'))
    const events: TokenProviderErrorEvent[] = []
    const failing = createTokenProvider({
      fetchToken: refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: 'svc', clientSecret, refreshToken }),
    })
    failing.on('error', (event) => events.push(event))
    const refreshError = await failing.getToken().catch((error: unknown) => error)

    server.reset(() => ({ body: { access_token: 'opaque', expires_in: 60, refresh_token: 'rt-SECRET-2' } }))
    const rotating = createTokenProvider({
      fetchToken: refreshTokenGrant({
        tokenUrl: server.tokenUrl,
        clientId: 'svc',
        refreshToken,
        onRotate: (rotated) => {
          throw new Error(`could not store ${rotated}`)
        },
      }),
    })
    rotating.on('error', (event) => events.push(event))
    await rotating.getToken()
    expect(events).toHaveLength(2)
    expectNoSecret([refreshError, ...events, failing, rotating])
    failing.dispose()
    rotating.dispose()
  })
})
