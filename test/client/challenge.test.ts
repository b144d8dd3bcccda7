import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseChallenges } from '../../src/client/challenge.js'
import { judge, toChallengeEvent } from '../../src/client/refusal.js'

const challenge = (scheme: string, params: Record<string, string> = {}, token68?: string) => ({
  scheme,
  params,
  ...(token68 === undefined ? {} : { token68 }),
})
const parsed = (header: string) => parseChallenges(header).map((c) => ({ ...c, params: { ...c.params } }))

describe('parseChallenges (RFC 9110 §11.6.1)', () => {
  it('reads an RFC 6750 challenge', () => {
    expect(
      parsed('Bearer realm="example", error="invalid_token", error_description="The access token expired"'),
    ).toEqual([
      challenge('Bearer', { realm: 'example', error: 'invalid_token', error_description: 'The access token expired' }),
    ])
  })

  it("reads RFC 9110's example: several challenges, a token value, escapes in a quoted string", () => {
    expect(parsed('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"')).toEqual([
      challenge('Newauth', { realm: 'apps', type: '1', title: 'Login to "apps"' }),
      challenge('Basic', { realm: 'simple' }),
    ])
  })

  it('keeps commas and equals signs inside quotes, and lower-cases parameter names only', () => {
    expect(parsed('DPoP ALGS="ES256 PS256", error="insufficient_scope", scope="a,b=c, d"')).toEqual([
      challenge('DPoP', { algs: 'ES256 PS256', error: 'insufficient_scope', scope: 'a,b=c, d' }),
    ])
  })

  it('reads token68 challenges next to auth-param ones', () => {
    expect(parsed('Negotiate a87421000492aa874209af8bc028==, Bearer error=invalid_token, Basic')).toEqual([
      challenge('Negotiate', {}, 'a87421000492aa874209af8bc028=='),
      challenge('Bearer', { error: 'invalid_token' }),
      challenge('Basic'),
    ])
  })

  it('allows whitespace around `=` and empty list elements', () => {
    expect(parsed(' , Bearer  error = "invalid_token" ,, scope=x ,')).toEqual([
      challenge('Bearer', { error: 'invalid_token', scope: 'x' }),
    ])
  })

  it('keeps the first of a repeated parameter (RFC 9110: each name at most once)', () => {
    expect(parsed('Bearer error="insufficient_scope", error="invalid_token"')).toEqual([
      challenge('Bearer', { error: 'insufficient_scope' }),
    ])
  })

  it('stops at the first malformed part and keeps what was read whole', () => {
    expect(parsed('Bearer error="unterminated')).toEqual([challenge('Bearer')])
    expect(parsed('Bearer realm="a" error="b"')).toEqual([challenge('Bearer', { realm: 'a' })])
    expect(parsed('Basic realm="x", Bearer error="a\u0001b"')).toEqual([
      challenge('Basic', { realm: 'x' }),
      challenge('Bearer'),
    ])
    expect(parsed('="x"')).toEqual([])
    expect(parsed('')).toEqual([])
    // `error=` fits token68's grammar (its `=`s pad the end): a token68, not an empty parameter.
    expect(parsed('Bearer error=')).toEqual([challenge('Bearer', {}, 'error=')])
    expect(parsed('Bearer error= x')).toEqual([challenge('Bearer', { error: 'x' })])
  })

  it('never lets a parameter named __proto__ reach a prototype', () => {
    const [read] = parseChallenges('Bearer __proto__="x", constructor="y"')
    expect(Object.getPrototypeOf(read?.params)).toBe(null)
    expect(Object.entries(read?.params ?? {})).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
    ])
  })
})

describe('what a refusal calls for', () => {
  const response = (status: number, header?: string) =>
    new Response(null, { status, headers: header === undefined ? {} : { 'www-authenticate': header } })
  const verdict = (status: number, header?: string, scheme = 'bearer') =>
    judge(response(status, header), [401], scheme, undefined)

  it('refreshes on invalid_token (401 or 403) and on a 401 without a parseable error', () => {
    expect(verdict(401, 'Bearer error="invalid_token"')).toBe('refresh')
    expect(verdict(403, 'Bearer error="invalid_token"')).toBe('refresh')
    expect(verdict(401)).toBe('refresh')
    expect(verdict(401, 'Bearer realm="api"')).toBe('refresh')
    expect(verdict(401, '"garbage')).toBe('refresh')
  })

  it('never refreshes insufficient_scope, invalid_request, step-up or invalid_dpop_proof', () => {
    for (const error of ['insufficient_scope', 'invalid_request', 'insufficient_user_authentication']) {
      expect(verdict(401, `Bearer error="${error}"`)).toBe('final')
      expect(verdict(403, `Bearer error="${error}"`)).toBe('final')
    }
    expect(verdict(401, 'DPoP error="invalid_dpop_proof"', 'dpop')).toBe('final')
    expect(verdict(403)).toBe('final')
  })

  it('a nonce request is a protocol step on a 401 only, and is not reported', () => {
    const seen: string[] = []
    const header = 'DPoP error="use_dpop_nonce", Bearer realm="x"'
    expect(judge(response(401, header), [401], 'dpop', (c) => seen.push(c.scheme))).toBe('nonce')
    expect(seen).toEqual(['Bearer'])
    expect(verdict(403, 'DPoP error="use_dpop_nonce"', 'dpop')).toBe('final')
  })

  it("the challenge of the request's own scheme decides between several", () => {
    const header = 'Bearer error="insufficient_scope", DPoP error="invalid_token"'
    expect(verdict(401, header, 'dpop')).toBe('refresh')
    expect(verdict(401, header, 'bearer')).toBe('final')
  })

  it('makes events with scope, acr_values and max_age (RFC 9470)', () => {
    const [read] = parseChallenges(
      'Bearer error="insufficient_user_authentication", acr_values="phr phrh", max_age=5, scope="a b"',
    )
    expect(toChallengeEvent('https://api.example.com/x', 401, read as never)).toEqual({
      url: 'https://api.example.com/x',
      status: 401,
      scheme: 'Bearer',
      error: 'insufficient_user_authentication',
      scope: 'a b',
      acrValues: 'phr phrh',
      maxAge: 5,
    })
  })
})

describe('challenge parser fuzz', () => {
  // Pieces that make near-valid headers: every construct of the grammar, and ways to break it.
  const piece = fc.constantFrom(
    'Bearer',
    'DPoP',
    'Basic',
    ' ',
    '\t',
    ',',
    '=',
    '==',
    '"',
    '\\',
    '\\"',
    'error',
    'scope',
    'realm',
    'max_age',
    'acr_values',
    '"insufficient_scope"',
    'insufficient_scope',
    '"invalid_request"',
    'insufficient_user_authentication',
    'use_dpop_nonce',
    '"a,b"',
    'dXNlcjpw',
    '\u0000',
    '\u00e9',
    '\r\n',
    '__proto__',
  )
  const nearValid = fc.array(piece, { maxLength: 24 }).map((parts) => parts.join(''))
  const header = fc.oneof(fc.string({ maxLength: 80, unit: 'binary' }), nearValid)
  // What a Headers object accepts (no NUL, CR or LF; Latin-1), so that every run reaches the client.
  const latin1 = fc.integer({ min: 0x20, max: 0xff }).map((code) => String.fromCharCode(code === 0x7f ? 9 : code))
  const headerValue = fc.oneof(
    fc.string({ maxLength: 80, unit: latin1 }),
    nearValid.map((value) => value.replace(/[\u0000\r\n\u00e9]/g, '')),
  )

  it('never throws, on 10,000 arbitrary and near-valid headers', () => {
    fc.assert(
      fc.property(header, (value) => {
        const challenges = parseChallenges(value)
        for (const c of challenges) expect(typeof c.scheme).toBe('string')
      }),
      { numRuns: 10_000 },
    )
  })

  it('never refreshes a 403 (without invalid_token), on 10,000 headers', () => {
    let refreshes = 0
    let checked = 0
    fc.assert(
      fc.property(headerValue, (value) => {
        let response: Response
        try {
          response = new Response(null, { status: 403, headers: { 'www-authenticate': value } })
        } catch {
          return // not a valid header value at all: fetch would never hand it to us
        }
        checked++
        const events: unknown[] = []
        if (judge(response, [401], 'bearer', (c) => events.push(toChallengeEvent('u', 403, c))) === 'refresh') {
          refreshes++
        }
      }),
      { numRuns: 10_000 },
    )
    expect(checked).toBeGreaterThan(9_500)
    expect(refreshes).toBe(0)
  })
})
