import { importJWK, type JWK, SignJWT } from 'jose'
import { AuthError } from '../errors.js'
import { isCryptoKey } from '../internal/guards.js'

/**
 * ClientAssertionAlgorithm is a JWS algorithm a `private_key_jwt` client assertion can be signed
 * with: ECDSA P-256, RSA PKCS#1 v1.5 or RSA-PSS with SHA-256, or Ed25519.
 *
 * @example
 * ```ts
 * const algorithm: ClientAssertionAlgorithm = 'ES256'
 * ```
 */
export type ClientAssertionAlgorithm = 'ES256' | 'RS256' | 'PS256' | 'EdDSA'

/** The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2). */
export const jwtBearerAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** assertionDefaults are the client assertion's defaults. Times are seconds. */
const assertionDefaults = Object.freeze({
  /**
   * How long an assertion is valid. RFC 7523 asks for a short life, many servers refuse more than
   * 5 minutes, and a few seconds would fail against an issuer whose clock is a little ahead.
   */
  lifetimeS: 120,
})

/** SignAssertion makes a fresh, signed client assertion for the audience given. */
export type SignAssertion = (audience: string) => Promise<string>

/**
 * createAssertionSigner checks a private key at once (a public key, a key that cannot sign, or one
 * that does not fit `algorithm` is a `TypeError` naming the option, never quoting the key) and
 * returns a signer that makes an RFC 7523 §3 assertion per call: `iss` = `sub` = the client id,
 * `aud`, a random `jti`, `iat` and `exp`.
 */
export function createAssertionSigner(
  source: string,
  clientId: string,
  privateKey: unknown,
  algorithm: unknown,
  keyId: unknown,
): SignAssertion {
  const fail = (message: string) => new TypeError(`${source}: ${message}`)
  if (keyId !== undefined && (typeof keyId !== 'string' || keyId === '')) throw fail('keyId must be a non-empty string')
  if (algorithm !== undefined && !['ES256', 'RS256', 'PS256', 'EdDSA'].includes(algorithm as string)) {
    throw fail("algorithm must be 'ES256', 'RS256', 'PS256' or 'EdDSA'")
  }
  const wanted = algorithm as ClientAssertionAlgorithm | undefined
  let alg: ClientAssertionAlgorithm
  let key: () => Promise<CryptoKey | Uint8Array>
  if (isCryptoKey(privateKey)) {
    alg = cryptoKeyAlgorithm(privateKey, wanted, fail)
    const ready = Promise.resolve(privateKey)
    key = () => ready
  } else if (typeof privateKey === 'object' && privateKey !== null && typeof (privateKey as JWK).kty === 'string') {
    const jwk = { ...(privateKey as JWK), ext: false }
    alg = jwkAlgorithm(jwk, wanted, fail)
    let imported: Promise<CryptoKey | Uint8Array> | undefined
    // Imported on first use (WebCrypto is async), once. A key that checks out here but that
    // WebCrypto refuses is a terminal error: retrying cannot repair it.
    key = () =>
      (imported ??= importJWK(jwk, alg).catch(() => {
        throw new AuthError(`${source}: privateKey could not be imported as an ${alg} key`, {
          code: 'ERR_TOKEN_SOURCE',
          terminal: true,
        })
      }))
  } else {
    throw fail('privateKey must be a CryptoKey or a private JWK')
  }
  const kid = keyId ?? (isCryptoKey(privateKey) ? undefined : (privateKey as JWK).kid)
  return async (audience) => {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({})
      .setProtectedHeader(kid === undefined ? { alg } : { alg, kid: kid as string })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setJti(crypto.randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + assertionDefaults.lifetimeS)
      .sign(await key())
  }
}

function cryptoKeyAlgorithm(
  key: CryptoKey,
  wanted: ClientAssertionAlgorithm | undefined,
  fail: (message: string) => TypeError,
): ClientAssertionAlgorithm {
  if (key.type !== 'private') throw fail(`privateKey is a ${key.type} key: a client assertion needs the private key`)
  if (!key.usages.includes('sign')) throw fail("privateKey cannot sign: its usages lack 'sign'")
  const algorithm = key.algorithm as {
    name: string
    namedCurve?: string
    hash?: { name: string }
    modulusLength?: number
  }
  let fits: ClientAssertionAlgorithm | undefined
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256') fits = 'ES256'
  else if (algorithm.name === 'Ed25519') fits = 'EdDSA'
  else if (algorithm.hash?.name === 'SHA-256' && (algorithm.modulusLength ?? 0) >= 2048) {
    if (algorithm.name === 'RSASSA-PKCS1-v1_5') fits = 'RS256'
    if (algorithm.name === 'RSA-PSS') fits = 'PS256'
  }
  const described = `${algorithm.name}${algorithm.namedCurve === undefined ? '' : ` ${algorithm.namedCurve}`}`
  if (fits === undefined) {
    throw fail(`privateKey (${described}) fits none of ES256, RS256, PS256, EdDSA (RSA keys need SHA-256, 2048 bits)`)
  }
  if (wanted !== undefined && wanted !== fits) throw fail(`privateKey (${described}) cannot sign ${wanted}`)
  return fits
}

function jwkAlgorithm(
  jwk: JWK,
  wanted: ClientAssertionAlgorithm | undefined,
  fail: (message: string) => TypeError,
): ClientAssertionAlgorithm {
  if (typeof jwk.d !== 'string' || jwk.d === '') {
    throw fail('privateKey is a public JWK (no "d"): a client assertion needs the private key')
  }
  const chosen = wanted ?? (jwk.alg as ClientAssertionAlgorithm | undefined)
  if (wanted !== undefined && jwk.alg !== undefined && jwk.alg !== wanted) {
    throw fail(`privateKey is for ${jwk.alg}, not the algorithm ${wanted}`)
  }
  const described = `${jwk.kty}${jwk.crv === undefined ? '' : ` ${jwk.crv}`}`
  let fits: ClientAssertionAlgorithm[] = []
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') fits = ['ES256']
  else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') fits = ['EdDSA']
  // 2048 bits are 342 base64url characters of modulus.
  else if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && jwk.n.length >= 342) fits = ['RS256', 'PS256']
  if (fits.length === 0) {
    throw fail(`privateKey (${described}) fits none of ES256, RS256, PS256, EdDSA (RSA keys need 2048 bits)`)
  }
  if (chosen === undefined) return fits[0] as ClientAssertionAlgorithm
  if (!fits.includes(chosen)) throw fail(`privateKey (${described}) cannot sign ${chosen}`)
  return chosen
}
