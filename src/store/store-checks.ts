import { DisposedError } from '../errors.js'
import { duration } from '../internal/options.js'
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

/** checkKey refuses calls on a disposed store (named by `store`) and keys that are not non-empty strings. */
export function checkKey(key: string, disposed: boolean, store: string): string {
  if (disposed) throw new DisposedError(store)
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string')
  return key
}

/** checkTtl refuses a lease time that is not a positive, finite number of milliseconds. */
export function checkTtl(ttlMs: number): void {
  duration('ttlMs', ttlMs ?? Number.NaN, 0) // required: no fallback
}

/**
 * isKept tells whether a store keeps a record: while its access token is valid, or for as long as it
 * carries a refresh token (the latest one outlives its access token).
 */
export function isKept(token: TokenSet, now: number): boolean {
  return token.refreshToken !== undefined || token.expiresAt === undefined || token.expiresAt > now
}
