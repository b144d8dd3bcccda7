import { describe, expect, it } from 'vitest'
import { OriginPolicy } from '../../src/client/origin.js'
import { CrossOriginError } from '../../src/index.js'

describe('OriginPolicy.resolve', () => {
  const policy = new OriginPolicy('https://api.example.test:8443/v1/', ['https://uploads.example.test'])

  it('resolves path-absolute URLs against the base origin, as fetch would', () => {
    expect(policy.resolve('/v2/items?x=1')).toBe('https://api.example.test:8443/v2/items?x=1')
    expect(policy.resolve('items')).toBe('https://api.example.test:8443/v1/items')
    expect(policy.resolve('https://uploads.example.test/f')).toBe('https://uploads.example.test/f')
  })

  // The URL parser drops every tab and newline before anything else: `/\t/evil.test` is
  // `//evil.test`, a scheme-relative URL for another host, not a path on the base origin.
  it.each(['/\t/evil.test/x', '/\n/evil.test', '/\r\\evil.test', '/\t\t\\evil.test', '/\n/api.example.test.evil.test'])(
    'refuses %j, which a tab or newline turns into another origin',
    (input) => {
      expect(new URL(input, 'https://api.example.test:8443/v1/').host).not.toBe('api.example.test:8443')
      expect(() => policy.resolve(input)).toThrow(CrossOriginError)
    },
  )

  it('still treats a tab or newline after a path segment as part of the path', () => {
    expect(new URL(policy.resolve('/v2\t/x')).origin).toBe('https://api.example.test:8443')
    expect(policy.resolve('/\t/api.example.test:8443/x')).toBe('https://api.example.test:8443/x')
  })
})
