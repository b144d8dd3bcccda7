/** isRecord tells whether a parsed JSON value is an object with named fields (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** isCryptoKey tells whether a value is a WebCrypto key, on runtimes that have `CryptoKey` at all. */
export function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey === 'function' && value instanceof CryptoKey
}
