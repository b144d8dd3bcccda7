import { describe, expect, it } from 'vitest'
import { isAuthError, parseToken, TokenDecodeError } from '../../src/index.js'
import { checkClaims, isNewer } from '../../src/token/token-set.js'
import { mint, unsigned } from '../helpers/jwt.js'

function decodeFailure(run: () => unknown): TokenDecodeError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(TokenDecodeError)
    expect(isAuthError(error, 'ERR_TOKEN_DECODE')).toBe(true)
    return error as TokenDecodeError
  }
  throw new Error('expected a TokenDecodeError')
}

describe('parseToken', () => {
  it('reads exp and iat of a real JWT as epoch milliseconds', async () => {
    const token = await mint({ issuedAt: 1_700_000_000_000, lifetimeMs: 8 * 3_600_000 })
    expect(parseToken(token)).toEqual({
      accessToken: token,
      issuedAt: 1_700_000_000_000,
      expiresAt: 1_700_000_000_000 + 8 * 3_600_000,
    })
  })

  it('treats any other non-empty string as an opaque token with unknown expiry', () => {
    expect(parseToken('opaque-token')).toEqual({ accessToken: 'opaque-token' })
    expect(parseToken('two.segments')).toEqual({ accessToken: 'two.segments' })
    expect(parseToken('a.b.c.d.e')).toEqual({ accessToken: 'a.b.c.d.e' })
  })

  it('converts expiresIn seconds against the given clock', () => {
    expect(parseToken({ accessToken: 'x', expiresIn: 60, refreshToken: 'r' }, { now: 1_000 })).toEqual({
      accessToken: 'x',
      issuedAt: 1_000,
      expiresAt: 61_000,
      refreshToken: 'r',
    })
  })

  it.each([
    ['a trailing newline', (t: string) => `${t}\n`],
    ['a trailing CRLF', (t: string) => `${t}\r\n`],
    ['leading spaces and a tab', (t: string) => `  \t${t}`],
    ['both sides', (t: string) => `\n ${t} \r\n\t`],
  ])('trims %s around a JWT, an opaque token and a refresh token', async (_, pad) => {
    const jwt = await mint({ issuedAt: 1_700_000_000_000, lifetimeMs: 60_000 })
    const decoded = { accessToken: jwt, issuedAt: 1_700_000_000_000, expiresAt: 1_700_000_060_000 }
    expect(parseToken(pad(jwt))).toEqual(decoded)
    expect(parseToken({ accessToken: pad(jwt), refreshToken: pad('r-1') })).toEqual({ ...decoded, refreshToken: 'r-1' })
    expect(parseToken(pad('opaque-token'))).toEqual({ accessToken: 'opaque-token' })
    expect(parseToken({ accessToken: pad('opaque'), expiresIn: 60 }, { now: 1_000 })).toEqual({
      accessToken: 'opaque',
      issuedAt: 1_000,
      expiresAt: 61_000,
    })
  })

  it.each([0, -1, -3600])(
    'reads expiresIn %d as unknown: a JWT exp decides, an opaque token has no expiry',
    async (expiresIn) => {
      const jwt = await mint({ issuedAt: 1_700_000_000_000, lifetimeMs: 60_000 })
      expect(parseToken({ accessToken: jwt, expiresIn }, { now: 1_700_000_001_000 })).toEqual({
        accessToken: jwt,
        issuedAt: 1_700_000_000_000,
        expiresAt: 1_700_000_060_000,
      })
      expect(parseToken({ accessToken: 'opaque', expiresIn }, { now: 1_000 })).toEqual({ accessToken: 'opaque' })
    },
  )

  it.each([
    ['expires_in later than exp: exp wins', 3600, 1_700_000_060_000],
    ['expires_in earlier than exp: expires_in wins', 10, 1_700_000_011_000],
    ['both the same', 59, 1_700_000_060_000],
  ])('takes the earlier of two expiries, %s', async (_, expiresIn, expiresAt) => {
    const jwt = await mint({ issuedAt: 1_700_000_000_000, lifetimeMs: 60_000 })
    expect(parseToken({ accessToken: jwt, expiresIn }, { now: 1_700_000_001_000 })).toEqual({
      accessToken: jwt,
      issuedAt: 1_700_000_000_000,
      expiresAt,
    })
  })

  it('keeps a TokenSet with explicit times as it is', () => {
    const set = { accessToken: 'x', expiresAt: 5_000, issuedAt: 1_000, tokenType: 'Bearer', scope: 'a b' }
    expect(parseToken(set)).toEqual(set)
    expect(parseToken(set)).not.toBe(set)
  })

  it('takes the expiry of a JWT access token given without one', async () => {
    const token = await mint({ issuedAt: 1_700_000_000_000, lifetimeMs: 60_000 })
    expect(parseToken({ accessToken: token, refreshToken: 'r' })).toEqual({
      accessToken: token,
      issuedAt: 1_700_000_000_000,
      expiresAt: 1_700_000_060_000,
      refreshToken: 'r',
    })
  })

  it.each([
    ['', 'the token is empty'],
    ['a b', 'the token contains whitespace or control characters'],
    ['a\tb', 'the token contains whitespace or control characters'],
    ['ab\u0000c', 'the token contains whitespace or control characters'],
    ['aaa..ccc', 'malformed JWT: the payload segment is empty'],
    ['aaa.%%%.ccc', 'malformed JWT: the payload is not valid base64url'],
    [`aaa.${Buffer.from('not json').toString('base64url')}.ccc`, 'malformed JWT: the payload is not JSON'],
    [unsigned([1, 2]), 'malformed JWT: the payload is not a JSON object'],
    [unsigned('claims'), 'malformed JWT: the payload is not a JSON object'],
    [unsigned({ exp: 'soon' }), 'malformed JWT: the "exp" claim is not a finite number'],
    [unsigned({ iat: null }), 'malformed JWT: the "iat" claim is not a finite number'],
    [unsigned({ nbf: [1] }), 'malformed JWT: the "nbf" claim is not a finite number'],
    [unsigned({ exp: 100, iat: 200 }), 'malformed JWT: it expires ("exp") at or before it was issued ("iat")'],
    [unsigned({ exp: 100, iat: 100 }), 'malformed JWT: it expires ("exp") at or before it was issued ("iat")'],
    [unsigned({ exp: 100, nbf: 150 }), 'malformed JWT: it expires ("exp") at or before it becomes valid ("nbf")'],
    // Finite seconds, but not as milliseconds: the expiry would be Infinity, and its schedule NaN.
    [unsigned({ exp: 1e308 }), 'malformed JWT: the "exp" claim is out of range'],
    [unsigned({ exp: 1.7e308, iat: 1e308 }), 'malformed JWT: the "exp" claim is out of range'],
    [unsigned({ exp: 100, iat: -1e308 }), 'malformed JWT: the "iat" claim is out of range'],
  ])('refuses %j: %s', (input, message) => {
    const error = decodeFailure(() => parseToken(input))
    expect(error.message).toBe(message)
    if (input.length > 3) expect(error.message).not.toContain(input)
  })

  it.each([
    [null, 'expected a token string or object, got null'],
    [42, 'expected a token string or object, got number'],
    [{}, '"accessToken" must be a string'],
    [{ accessToken: '' }, 'the token is empty'],
    [{ accessToken: 'x', expiresIn: Number.NaN }, '"expiresIn" must be a finite number of seconds'],
    [{ accessToken: 'x', expiresIn: '60' }, '"expiresIn" must be a finite number of seconds'],
    [{ accessToken: 'x', expiresIn: null }, '"expiresIn" must be a finite number of seconds'],
    [{ accessToken: 'x', expiresIn: -Infinity }, '"expiresIn" must be a finite number of seconds'],
    [{ accessToken: ' a b ' }, 'the token contains whitespace or control characters'],
    [{ accessToken: ' \n ' }, 'the token is empty'],
    [{ accessToken: 'x', expiresIn: 1e306 }, '"expiresIn" is out of range'],
    [{ accessToken: 'x', expiresAt: '1' }, '"expiresAt" must be a finite number of epoch milliseconds'],
    [{ accessToken: 'x', issuedAt: Infinity }, '"issuedAt" must be a finite number of epoch milliseconds'],
    [{ accessToken: 'x', expiresAt: 1, issuedAt: 2 }, '"expiresAt" is not after "issuedAt"'],
    [{ accessToken: 'x', refreshToken: 1 }, '"refreshToken" must be a string'],
  ])('refuses the object %j: %s', (input, message) => {
    expect(decodeFailure(() => parseToken(input as never)).message).toBe(message)
  })

  it('never keeps a cause that could quote the payload', () => {
    const error = decodeFailure(() => parseToken(`aaa.${Buffer.from('{"secret-ish').toString('base64url')}.ccc`))
    expect(String((error.cause as Error).cause)).toBe('undefined')
    expect((error.cause as Error).message).not.toContain('secret-ish')
  })
})

describe('isNewer', () => {
  const at = (accessToken: string, expiresAt?: number, issuedAt?: number) => ({
    accessToken,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(issuedAt === undefined ? {} : { issuedAt }),
  })

  it('prefers a later expiry, then a later issue time', () => {
    expect(isNewer(at('b', 2), at('a', 1))).toBe(true)
    expect(isNewer(at('b', 1), at('a', 2))).toBe(false)
    expect(isNewer(at('b', 1, 1), at('a', 1, 0))).toBe(true)
    expect(isNewer(at('b', 1, 0), at('a', 1, 0))).toBe(false)
    expect(isNewer(at('b', 1, 0), at('a', 1))).toBe(true)
  })

  it('takes a different token when either expiry is unknown, and never an identical one', () => {
    expect(isNewer(at('b'), at('a', 5))).toBe(true)
    expect(isNewer(at('b', 5), at('a'))).toBe(true)
    expect(isNewer(at('a'), at('a'))).toBe(false)
    expect(isNewer(at('a', 9), at('a', 5))).toBe(false)
  })
})

describe('checkClaims', () => {
  it('accepts matching claims and refuses others with ERR_CLAIMS_MISMATCH', async () => {
    const token = parseToken(await mint({ sub: 'agent-a', claims: { aud: ['x', 'y'], tier: { level: 2 } } }))
    expect(() => checkClaims(token, { sub: 'agent-a', aud: ['x', 'y'], tier: { level: 2 } }, 'p')).not.toThrow()
    for (const expected of [{ sub: 'agent-b' }, { aud: ['x'] }, { tier: { level: 3 } }, { missing: 1 }, { aud: 'x' }]) {
      let error: unknown
      try {
        checkClaims(token, expected, 'p')
      } catch (caught) {
        error = caught
      }
      expect(isAuthError(error, 'ERR_CLAIMS_MISMATCH')).toBe(true)
      expect((error as Error).message).not.toContain(token.accessToken)
    }
  })

  it('refuses an opaque token, whose claims cannot be known', () => {
    expect(() => checkClaims({ accessToken: 'opaque' }, { sub: 'a' }, 'p')).toThrow(/not a JWT/)
  })
})
