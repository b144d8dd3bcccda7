import type { TokenSet } from '../token/token-set.js'

/** checkToken refuses what no store can keep: a token without an access token, or with times that are not numbers. */
export function checkToken(token: TokenSet): void {
  if (typeof token !== 'object' || token === null || typeof token.accessToken !== 'string' || !token.accessToken) {
    throw new TypeError('token must be a TokenSet with a non-empty accessToken')
  }
  for (const time of [token.expiresAt, token.issuedAt]) {
    if (time !== undefined && (typeof time !== 'number' || !Number.isFinite(time))) {
      throw new TypeError('token.expiresAt and token.issuedAt must be finite numbers when present')
    }
  }
}

/** duration validates a store option in milliseconds: `fallback` when absent, a `RangeError` naming it when not positive. */
export function duration(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive, finite number of milliseconds`)
  }
  return value
}
