import type { DPoP } from './dpop.js'

/**
 * The key under which a DPoP object hands its signer to the client and the token sources. A
 * registered symbol, so a DPoP made by another copy of the library loaded in the process works.
 */
export const signer: unique symbol = Symbol.for('refreshing-client.dpop.v1') as never

/** DPoPSigner is what the client and the sources need of a {@link DPoP}: proofs and nonces. */
export interface DPoPSigner {
  /** A fresh proof for one send: `htu` without query or fragment, `ath` when a token goes with it. */
  proof(method: string, url: string, accessToken?: string): Promise<string>
  /** Keeps the response's `DPoP-Nonce`, if any, as the nonce of `url`'s origin. */
  learn(url: string, response: Response): void
}

/** signerOf returns the signer of a {@link DPoP}, or throws a `TypeError` naming the option. */
export function signerOf(dpop: unknown, option: string): DPoPSigner {
  const found = typeof dpop === 'object' && dpop !== null ? (dpop as { [signer]?: DPoPSigner })[signer] : undefined
  if (typeof found?.proof !== 'function') throw new TypeError(`${option} must be made by createDPoP()`)
  return found
}

/**
 * The key under which a token source bound to a DPoP key carries that key's thumbprint. A provider
 * with a store keeps such tokens under a store key that names the thumbprint: processes holding the
 * same key pair share them, any other process never sees them (a bound token is useless without
 * its key).
 */
export const boundTo: unique symbol = Symbol.for('refreshing-client.dpop-bound.v1') as never

/** bindSource marks `fetchToken` as yielding tokens bound to `dpop`'s key. */
export function bindSource<T extends object>(fetchToken: T, dpop: DPoP | undefined): T {
  if (dpop !== undefined) Object.defineProperty(fetchToken, boundTo, { value: dpop.thumbprint })
  return fetchToken
}
