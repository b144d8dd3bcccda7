import { base64url, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { isCryptoKey } from '../internal/guards.js'
import { type DPoPSigner, signer } from './signer.js'

/**
 * DPoPAlgorithm is a JWS algorithm a DPoP key pair can sign proofs with (RFC 9449 §4.2).
 *
 * @example
 * ```ts
 * const algorithm: DPoPAlgorithm = 'EdDSA'
 * ```
 */
export type DPoPAlgorithm = 'ES256' | 'EdDSA' | 'RS256' | 'PS256'

/**
 * DPoPOptions are the options of {@link createDPoP}.
 *
 * @example
 * ```ts
 * // One key pair for every process of a fleet that shares tokens through a store.
 * const keyPair = await loadKeyPairFromVault()
 * const options: DPoPOptions = { keyPair, algorithm: 'ES256' }
 * ```
 */
export interface DPoPOptions {
  /**
   * The key pair that proofs are signed with. Pass the same pair to every process that shares
   * DPoP-bound tokens through a store. @default a new non-extractable pair for `algorithm`
   */
  keyPair?: CryptoKeyPair | undefined
  /** The JWS algorithm of the proofs; with `keyPair`, it must fit the key. @default 'ES256', or the key's own */
  algorithm?: DPoPAlgorithm | undefined
}

/**
 * DPoP is a proof-of-possession key (RFC 9449) for `RefreshingClient`'s `dpop` option and every
 * token source's `dpop` option: tokens are bound to its key, and each request carries a fresh
 * proof signed with it. It also keeps the latest `DPoP-Nonce` of each origin. The private key never
 * leaves it; only the public key's thumbprint is visible.
 *
 * @example
 * ```ts
 * const dpop = await createDPoP()
 * console.log(dpop.thumbprint) // the `cnf.jkt` of every token issued for it
 * ```
 */
export interface DPoP {
  /** The RFC 7638 JWK SHA-256 thumbprint of the public key, base64url: what a bound token's `cnf.jkt` holds. */
  readonly thumbprint: string
}

// Each origin's latest nonce is kept; bounded, so a client sent to many origins stays small.
const maxOrigins = 256

const algorithms: Readonly<Record<DPoPAlgorithm, (key: KeyAlgorithm) => boolean>> = Object.freeze({
  ES256: (key) => key.name === 'ECDSA' && (key as EcKeyAlgorithm).namedCurve === 'P-256',
  EdDSA: (key) => key.name === 'Ed25519',
  RS256: (key) => key.name === 'RSASSA-PKCS1-v1_5',
  PS256: (key) => key.name === 'RSA-PSS',
})

/**
 * createDPoP makes a {@link DPoP} key: a new non-extractable key pair (ES256 by default), or the
 * one you pass so that several processes hold the same key. WebCrypto is asynchronous, hence the
 * promise.
 *
 * @throws TypeError when `keyPair` is not a pair of signing `CryptoKey`s, or `algorithm` is unknown
 *   or does not fit the key.
 * @example
 * ```ts
 * const dpop = await createDPoP()
 * const tokens = createTokenProvider({
 *   name: 'billing',
 *   fetchToken: clientCredentials({ tokenUrl, clientId: 'billing', clientSecret, dpop }),
 * })
 * const client = new RefreshingClient({ tokens, baseUrl: 'https://api.example.com/', dpop })
 * ```
 */
export async function createDPoP(options: DPoPOptions = {}): Promise<DPoP> {
  if (typeof options !== 'object' || options === null) throw new TypeError('createDPoP: options must be an object')
  const { keyPair } = options
  let { algorithm } = options
  if (algorithm !== undefined && !Object.hasOwn(algorithms, algorithm)) {
    throw new TypeError("createDPoP: algorithm must be 'ES256', 'EdDSA', 'RS256' or 'PS256'")
  }
  let pair: CryptoKeyPair
  if (keyPair === undefined) {
    algorithm ??= 'ES256'
    pair = await generateKeyPair(algorithm, { extractable: false })
  } else {
    if (!isCryptoKey(keyPair?.privateKey) || !isCryptoKey(keyPair.publicKey) || keyPair.privateKey.type !== 'private') {
      throw new TypeError('createDPoP: keyPair must hold a private and a public CryptoKey')
    }
    const fits = (name: DPoPAlgorithm) => algorithms[name](keyPair.privateKey.algorithm)
    algorithm ??= (Object.keys(algorithms) as DPoPAlgorithm[]).find(fits)
    if (algorithm === undefined || !fits(algorithm)) {
      throw new TypeError('createDPoP: algorithm does not fit keyPair (ES256: P-256, EdDSA: Ed25519, RS256, PS256)')
    }
    pair = keyPair
  }
  const { kty, crv, x, y, e, n } = await exportJWK(pair.publicKey)
  // Only the members RFC 7638 names: nothing else of the key goes into a proof.
  const jwk = Object.fromEntries(Object.entries({ kty, crv, x, y, e, n }).filter(([, v]) => v !== undefined)) as JWK
  return new DPoPKey(pair.privateKey, algorithm, jwk, await calculateJwkThumbprint(jwk))
}

/** DPoPKey signs the proofs; its internals are reached through the {@link signer} symbol only. */
class DPoPKey implements DPoP, DPoPSigner {
  readonly thumbprint: string
  readonly #privateKey: CryptoKey
  readonly #header: { alg: DPoPAlgorithm; typ: 'dpop+jwt'; jwk: JWK }
  readonly #nonces = new Map<string, string>()
  // The last token's `ath`: a client sends one token many times, a digest per request is waste.
  #athFor: string | undefined
  #ath: string | undefined

  constructor(privateKey: CryptoKey, algorithm: DPoPAlgorithm, jwk: JWK, thumbprint: string) {
    this.#privateKey = privateKey
    this.#header = { alg: algorithm, typ: 'dpop+jwt', jwk }
    this.thumbprint = thumbprint
  }

  get [signer](): DPoPSigner {
    return this
  }

  async proof(method: string, url: string, accessToken?: string): Promise<string> {
    const target = new URL(url)
    const claims: Record<string, unknown> = {
      jti: crypto.randomUUID(),
      htm: method,
      htu: `${target.origin}${target.pathname}`,
      iat: Math.floor(Date.now() / 1000),
    }
    if (accessToken !== undefined) claims['ath'] = await this.#athOf(accessToken)
    const nonce = this.#nonces.get(target.origin)
    if (nonce !== undefined) claims['nonce'] = nonce
    return new SignJWT(claims).setProtectedHeader(this.#header).sign(this.#privateKey)
  }

  learn(url: string, response: Response): void {
    const nonce = response.headers.get('dpop-nonce')
    // RFC 9449 §8.1: a nonce is printable ASCII, no spaces. Anything else is ignored. Most answers
    // carry none, so the URL is parsed only when one came.
    if (nonce === null || !/^[\x21-\x7e]{1,1024}$/.test(nonce)) return
    const { origin } = new URL(url)
    if (this.#nonces.get(origin) === nonce) return
    this.#nonces.delete(origin)
    if (this.#nonces.size >= maxOrigins) this.#nonces.delete(this.#nonces.keys().next().value as string)
    this.#nonces.set(origin, nonce)
  }

  async #athOf(accessToken: string): Promise<string> {
    if (this.#athFor !== accessToken) {
      const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))
      this.#ath = base64url.encode(new Uint8Array(digest))
      this.#athFor = accessToken
    }
    return this.#ath as string
  }

  /** @internal */
  toJSON(): { thumbprint: string; algorithm: string } {
    return { thumbprint: this.thumbprint, algorithm: this.#header.alg }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DPoP { thumbprint: '${this.thumbprint}', algorithm: '${this.#header.alg}' }`
  }
}
