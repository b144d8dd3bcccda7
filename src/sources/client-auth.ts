import type { JWK } from 'jose'
import {
  type ClientAssertionAlgorithm,
  createAssertionSigner,
  jwtBearerAssertionType,
  type SignAssertion,
} from './client-assertion.js'

/**
 * ClientAuthMethod is how a client authenticates at the token endpoint: `client_secret_basic` (an
 * `Authorization: Basic` header) or `client_secret_post` (the form body), RFC 6749 §2.3.1;
 * `private_key_jwt`, a JWT signed with its private key (RFC 7523 §2.2, OpenID Connect Core §9); or
 * `none`, a public client that sends only its `client_id`.
 *
 * @example
 * ```ts
 * const authMethod: ClientAuthMethod = 'private_key_jwt'
 * ```
 */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

/**
 * ClientAuthOptions are how a token source authenticates its client, shared by every grant. Give a
 * `clientSecret` or a `privateKey`; `authMethod` follows from which one (`client_secret_basic`,
 * `private_key_jwt`, or `none` with neither) unless set.
 *
 * With `private_key_jwt`, every token request carries a fresh assertion: `iss` and `sub` the client
 * id, `aud` the authorization server's issuer when known (discovered, or given as `issuer`) and
 * the token endpoint otherwise, a random `jti`, `iat`, and `exp` two minutes later. No
 * `Authorization` header and no secret is sent.
 *
 * @example
 * ```ts
 * const auth: ClientAuthOptions = {
 *   privateKey: JSON.parse(process.env.AGENT_PRIVATE_JWK!), // a private JWK: EC P-256, RSA, or Ed25519
 *   keyId: 'agent-key-2026-01',
 * }
 * ```
 */
export interface ClientAuthOptions {
  /** The client secret. It never appears in an error, an event or an inspected object. */
  clientSecret?: string | undefined
  /**
   * How the client authenticates. @default 'private_key_jwt' with a privateKey,
   * 'client_secret_basic' with a clientSecret, else 'none'
   */
  authMethod?: ClientAuthMethod | undefined
  /**
   * The private key that signs `private_key_jwt` assertions: a `CryptoKey` (usable for `sign`) or
   * a private JWK. Public keys, and keys that fit none of the algorithms, are a `TypeError`.
   */
  privateKey?: CryptoKey | JWK | undefined
  /** The `kid` header of the assertion. @default the JWK's `kid`, else none */
  keyId?: string | undefined
  /** The assertion's algorithm. @default the one the key fits (an RSA key: 'RS256', or the JWK's `alg`) */
  algorithm?: ClientAssertionAlgorithm | undefined
}

/** ClientAuthentication is a validated client authentication, ready for token requests. */
export interface ClientAuthentication {
  /** Headers to send (`Authorization: Basic`). */
  readonly headers: Readonly<Record<string, string>>
  /** Form parameters to send: `client_id`, and a secret or an assertion type. */
  readonly params: ReadonlyArray<readonly [string, string]>
  /** The secret in each form it is sent in, to keep out of messages. */
  readonly secrets: readonly string[]
  /** With `private_key_jwt`: signs the `client_assertion` of each request. */
  readonly sign: SignAssertion | undefined
}

/**
 * resolveClientAuth validates a source's client authentication and works out what each request
 * sends. Errors are a `TypeError` naming the option, never quoting a secret or a key.
 */
export function resolveClientAuth(source: string, clientId: string, options: ClientAuthOptions): ClientAuthentication {
  const fail = (message: string) => new TypeError(`${source}: ${message}`)
  const { clientSecret, privateKey, authMethod } = options
  if (clientSecret !== undefined && (typeof clientSecret !== 'string' || clientSecret === '')) {
    throw fail('clientSecret must be a non-empty string')
  }
  if (
    authMethod !== undefined &&
    !['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'].includes(authMethod)
  ) {
    throw fail("authMethod must be 'client_secret_basic', 'client_secret_post', 'private_key_jwt' or 'none'")
  }
  if (clientSecret !== undefined && privateKey !== undefined) throw fail('give clientSecret or privateKey, not both')
  const method =
    authMethod ??
    (privateKey !== undefined ? 'private_key_jwt' : clientSecret !== undefined ? 'client_secret_basic' : 'none')
  if (method === 'private_key_jwt') {
    if (privateKey === undefined) throw fail("authMethod 'private_key_jwt' needs a privateKey")
    const sign = createAssertionSigner(source, clientId, privateKey, options.algorithm, options.keyId)
    return {
      headers: {},
      params: [
        ['client_id', clientId],
        ['client_assertion_type', jwtBearerAssertionType],
      ],
      secrets: [],
      sign,
    }
  }
  if (privateKey !== undefined) throw fail(`privateKey needs authMethod 'private_key_jwt', not '${method}'`)
  if (options.keyId !== undefined || options.algorithm !== undefined) {
    throw fail("keyId and algorithm belong to authMethod 'private_key_jwt'")
  }
  if (method === 'none') {
    if (clientSecret !== undefined) throw fail("authMethod 'none' sends no clientSecret: remove one of them")
    return { headers: {}, params: [['client_id', clientId]], secrets: [], sign: undefined }
  }
  if (clientSecret === undefined)
    throw fail('authMethod needs a clientSecret: a public client only sends its client_id')
  if (method === 'client_secret_post') {
    return {
      headers: {},
      params: [
        ['client_id', clientId],
        ['client_secret', clientSecret],
      ],
      secrets: [clientSecret, formEncode(clientSecret)],
      sign: undefined,
    }
  }
  // RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined and base64-encoded,
  // so a `:` in the client id cannot split the pair. The result is ASCII, which `btoa` takes.
  const credentials = btoa(`${formEncode(clientId)}:${formEncode(clientSecret)}`)
  return {
    headers: { authorization: `Basic ${credentials}` },
    params: [],
    secrets: [clientSecret, formEncode(clientSecret), credentials],
    sign: undefined,
  }
}

/** formEncode encodes one value as application/x-www-form-urlencoded does: spaces become `+`. */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1)
}

/**
 * signingFetch wraps `base` so that every request it sends, retries included, carries a freshly
 * signed `client_assertion`: a server that remembers `jti`s (RFC 7523 §3, item 7) never sees one
 * twice, even when a request is retried after a 5xx.
 */
export function signingFetch(
  base: typeof fetch | undefined,
  sign: SignAssertion,
  audience: string,
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const request = new Request(input, init)
    const form = new URLSearchParams(await request.text())
    form.set('client_assertion', await sign(audience))
    return (base ?? fetch)(request.url, {
      method: request.method,
      headers: request.headers,
      body: form.toString(),
      signal: request.signal,
      redirect: request.redirect,
    })
  }
}
