import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  type ClientAuthMethod,
  type ClientCredentialsOptions,
  clientCredentials,
  type FetchToken,
  type RefreshTokenGrantOptions,
  refreshTokenGrant,
} from '../../src/index.js'
import { formEncode } from '../../src/sources/client-auth.js'
import { redact } from '../../src/sources/endpoint-options.js'

const base: ClientCredentialsOptions = {
  tokenUrl: 'https://auth.example.com/token',
  clientId: 'svc',
  clientSecret: 'hunter2-secret',
}
const refresh: RefreshTokenGrantOptions = {
  tokenUrl: 'https://auth.example.com/token',
  clientId: 'app',
  refreshToken: 'rt-1',
}

function thrown(make: () => unknown): Error {
  try {
    make()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a throw')
}

describe('OAuth2 source options', () => {
  it.each<[() => unknown, ErrorConstructor, string]>([
    [() => clientCredentials(null as never), TypeError, 'clientCredentials: options must be an object'],
    [() => refreshTokenGrant('x' as never), TypeError, 'refreshTokenGrant: options must be an object'],
    [() => clientCredentials({ ...base, tokenUrl: 'not a url' }), TypeError, 'tokenUrl must be an absolute'],
    [() => clientCredentials({ ...base, tokenUrl: 'ftp://x/token' }), TypeError, 'tokenUrl must be an absolute'],
    [() => clientCredentials({ ...base, tokenUrl: 42 as never }), TypeError, 'tokenUrl must be an absolute'],
    [
      () => clientCredentials({ ...base, tokenUrl: 'https://u:hunter2-secret@x/token' }),
      TypeError,
      'tokenUrl must not contain credentials',
    ],
    [() => clientCredentials({ ...base, clientId: '' }), TypeError, 'clientId must be a non-empty string'],
    [() => clientCredentials({ ...base, clientSecret: '' }), TypeError, 'clientSecret must be a non-empty string'],
    [
      () => clientCredentials({ ...base, clientSecret: undefined as never }),
      TypeError,
      'clientCredentials: give a clientSecret or a privateKey',
    ],
    [() => clientCredentials({ ...base, scope: 1 as never }), TypeError, 'clientCredentials: scope must be a string'],
    [() => clientCredentials({ ...base, audience: [] as never }), TypeError, 'audience must be a string'],
    [() => clientCredentials({ ...base, authMethod: 'bogus' as never }), TypeError, 'authMethod must be'],
    [() => clientCredentials({ ...base, authMethod: 'none' }), TypeError, "authMethod 'none' sends no clientSecret"],
    [() => clientCredentials({ ...base, fetch: 'fetch' as never }), TypeError, 'fetch must be a function'],
    [() => clientCredentials({ ...base, params: [] as never }), TypeError, 'params must be an object'],
    [() => clientCredentials({ ...base, params: { a: 1 as never } }), TypeError, 'params.a must be a string'],
    [() => clientCredentials({ ...base, params: { scope: 'x' } }), TypeError, 'params.scope is set by'],
    [() => clientCredentials({ ...base, params: { client_secret: 'x' } }), TypeError, 'params.client_secret'],
    [() => clientCredentials({ ...base, headers: null as never }), TypeError, 'headers must be an object'],
    [() => clientCredentials({ ...base, headers: { Authorization: 'x' } }), TypeError, 'may not set Authorization'],
    [() => clientCredentials({ ...base, headers: { 'Content-Type': 'x' } }), TypeError, 'may not set Content-Type'],
    [() => clientCredentials({ ...base, headers: { 'bad header': 'x' } }), TypeError, 'headers must be valid'],
    [() => clientCredentials({ ...base, timeoutMs: 0 }), RangeError, 'timeoutMs must be'],
    [() => clientCredentials({ ...base, timeoutMs: Number.POSITIVE_INFINITY }), RangeError, 'timeoutMs must be'],
    [() => clientCredentials({ ...base, timeoutMs: '5' as never }), RangeError, 'timeoutMs must be'],
    [() => clientCredentials({ ...base, retry: -1 }), RangeError, 'retry must be a whole number'],
    [() => clientCredentials({ ...base, retry: 1.5 }), RangeError, 'retry must be a whole number'],
    [() => refreshTokenGrant({ ...refresh, refreshToken: '' }), TypeError, 'refreshToken must be a non-empty'],
    [() => refreshTokenGrant({ ...refresh, scope: 3 as never }), TypeError, 'refreshTokenGrant: scope must be'],
    [() => refreshTokenGrant({ ...refresh, onRotate: 'x' as never }), TypeError, 'onRotate must be a function'],
    [() => refreshTokenGrant({ ...refresh, params: { refresh_token: 'x' } }), TypeError, 'params.refresh_token'],
    [
      () => refreshTokenGrant({ ...refresh, authMethod: 'client_secret_post' }),
      TypeError,
      'authMethod needs a clientSecret',
    ],
  ])(
    'are validated at creation, with an error that names the option and never its value: $2',
    (make, type, message) => {
      const error = thrown(make)
      expect(error).toBeInstanceOf(type)
      expect(error.message).toContain(message)
      expect(error.message).not.toContain('hunter2')
    },
  )

  it('accept URL objects, extra params and the defaults', () => {
    expect(typeof clientCredentials({ ...base, tokenUrl: new URL(String(base.tokenUrl)), retry: 0 })).toBe('function')
    expect(typeof refreshTokenGrant({ ...refresh, params: { audience: 'api' }, timeoutMs: 1 })).toBe('function')
  })

  it('form-urlencode like application/x-www-form-urlencoded, with spaces as +', () => {
    expect(formEncode('a b:c%d+é')).toBe('a+b%3Ac%25d%2B%C3%A9')
    expect(formEncode("-._*~!'()")).toBe('-._*%7E%21%27%28%29')
  })

  it('redact every secret, and keep messages short and on one line', () => {
    expect(redact('bad secret s3 and s3 again', ['s3', ''])).toBe('bad secret [redacted] and [redacted] again')
    expect(redact('line\r\nbreak\u0000', [])).toBe('line break')
    expect(redact('x'.repeat(300), [])).toBe(`${'x'.repeat(200)}…`)
  })

  it('are typed: each source is a FetchToken', () => {
    expectTypeOf(clientCredentials).returns.toEqualTypeOf<FetchToken>()
    expectTypeOf(refreshTokenGrant).returns.toEqualTypeOf<FetchToken>()
    expectTypeOf<ClientAuthMethod>().toEqualTypeOf<
      'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'
    >()
    expectTypeOf<RefreshTokenGrantOptions['onRotate']>().toEqualTypeOf<
      ((refreshToken: string) => void | Promise<void>) | undefined
    >()
  })
})
