import { describe, expect, it } from 'vitest'
import {
  AuthError,
  CrossOriginError,
  DisposedError,
  isAuthError,
  OAuth2Error,
  RefreshError,
  TokenDecodeError,
  UnauthorizedError,
} from '../src/index.js'

describe('errors', () => {
  it.each<[AuthError, string, string]>([
    [new AuthError('x'), 'AuthError', 'ERR_AUTH'],
    [new TokenDecodeError('x'), 'TokenDecodeError', 'ERR_TOKEN_DECODE'],
    [new RefreshError('x'), 'RefreshError', 'ERR_REFRESH'],
    [new RefreshError('x', { code: 'ERR_NO_TOKEN' }), 'RefreshError', 'ERR_NO_TOKEN'],
    [new OAuth2Error('x', { error: 'invalid_scope', status: 400 }), 'OAuth2Error', 'ERR_OAUTH2'],
    [new UnauthorizedError('x', { status: 401, url: 'http://127.0.0.1/a' }), 'UnauthorizedError', 'ERR_UNAUTHORIZED'],
    [new DisposedError('scope "a"'), 'DisposedError', 'ERR_DISPOSED'],
    [new CrossOriginError('http://evil.test'), 'CrossOriginError', 'ERR_CROSS_ORIGIN'],
  ])('gives %s a literal name (%s), a stable code (%s) and the AuthError base', (error, name, code) => {
    expect(error).toBeInstanceOf(AuthError)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe(name)
    expect(error.code).toBe(code)
    expect(isAuthError(error)).toBe(true)
    expect(isAuthError(error, code)).toBe(true)
    expect(isAuthError(error, 'ERR_OTHER')).toBe(false)
    expect(String(error)).toMatch(new RegExp(`^${name}: `))
  })

  it('recognises errors of another copy of the library by their brand, not their class', () => {
    const foreign = Object.assign(new Error('x'), { code: 'ERR_REFRESH' })
    Object.defineProperty(foreign, Symbol.for('refreshing-client.error.v1'), { value: true })
    expect(isAuthError(foreign, 'ERR_REFRESH')).toBe(true)
    expect(isAuthError(Object.assign(new Error('x'), { code: 'ERR_REFRESH' }))).toBe(false)
    expect(isAuthError(null)).toBe(false)
    expect(isAuthError('ERR_REFRESH')).toBe(false)
  })

  it('keeps cause and terminal', () => {
    const cause = new Error('down')
    const error = new AuthError('x', { cause, terminal: true, code: 'ERR_CUSTOM' })
    expect(error.cause).toBe(cause)
    expect(error.terminal).toBe(true)
    expect(error.code).toBe('ERR_CUSTOM')
    expect('cause' in new AuthError('x')).toBe(false)
  })

  it('makes invalid_grant, invalid_client and unauthorized_client terminal, and nothing else', () => {
    const terminal = (error: string) => new OAuth2Error('x', { error, status: 400 }).terminal
    expect(['invalid_grant', 'invalid_client', 'unauthorized_client'].map(terminal)).toEqual([true, true, true])
    expect(['invalid_request', 'invalid_scope', 'temporarily_unavailable', 'server_error'].map(terminal)).toEqual([
      false,
      false,
      false,
      false,
    ])
    const error = new OAuth2Error('x', { error: 'invalid_grant', errorDescription: 'revoked', status: 400 })
    expect([error.error, error.errorDescription, error.status]).toEqual(['invalid_grant', 'revoked', 400])
  })

  it('names the refused origin and the disposed object', () => {
    expect(new CrossOriginError('http://127.0.0.1:9').origin).toBe('http://127.0.0.1:9')
    expect(new DisposedError('scope "a"').message).toBe('scope "a" has been disposed')
    const unauthorized = new UnauthorizedError('x', { status: 403, url: 'http://127.0.0.1/a' })
    expect([unauthorized.status, unauthorized.url]).toEqual([403, 'http://127.0.0.1/a'])
  })
})
