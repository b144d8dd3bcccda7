/** isRecord tells whether a parsed JSON value is an object with named fields (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** isCryptoKey tells whether a value is a WebCrypto key, on runtimes that have `CryptoKey` at all. */
export function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey === 'function' && value instanceof CryptoKey
}

/**
 * hasMethods tells whether `value` is an object with a function under each of `names`: how a
 * provider, a registry or a store is recognised, whether it comes from another copy of the library
 * or is the caller's own implementation.
 */
export function hasMethods<T>(value: unknown, ...names: (keyof T & string)[]): value is T {
  if (typeof value !== 'object' || value === null) return false
  return names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function')
}
