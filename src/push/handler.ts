import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose'
import { AuthError, isAuthError } from '../errors.js'
import { wholeNumber } from '../internal/options.js'
import { readLimited, tooLarge } from '../internal/read-body.js'
import { type PushStatus, type ReportingRegistry, reportPush, type TokenRegistry } from '../registry/types.js'
import { decodeClaims, parseToken } from '../token/token-set.js'

/**
 * PushVerifyOptions say how pushed tokens are verified: jose's `jwtVerify` with this key (or key
 * set) and these checks.
 *
 * @example
 * ```ts
 * const verify: PushVerifyOptions = {
 *   key: createRemoteJWKSet(new URL('https://auth.example.com/.well-known/jwks.json')),
 *   issuer: 'https://auth.example.com',
 *   audience: 'agents',
 *   algorithms: ['ES256'],
 * }
 * ```
 */
export interface PushVerifyOptions {
  /** A key, a JWK, a JSON Web Key Set, or a key resolver such as `createRemoteJWKSet(url)`. */
  key?: CryptoKey | Uint8Array | JWK | JSONWebKeySet | JWTVerifyGetKey | undefined
  /** The required `iss`. */
  issuer?: string | undefined
  /** The required `aud`. */
  audience?: string | undefined
  /** The accepted `alg` values. */
  algorithms?: string[] | undefined
}

/**
 * TokenPushHandlerOptions are the options of {@link createTokenPushHandler}.
 *
 * @example
 * ```ts
 * const handler = createTokenPushHandler({
 *   registry,
 *   scopeId: (request) => new URL(request.url).searchParams.get('session') ?? undefined,
 *   verify: { key: new TextEncoder().encode(pushSecret), algorithms: ['HS256'] },
 *   maxBodyBytes: 8_192,
 *   scopeClaim: 'session_id', // the claim that must name the session
 * })
 * ```
 */
export interface TokenPushHandlerOptions {
  /** The registry whose scopes receive the tokens. */
  registry: TokenRegistry
  /** Which scope a request is for (from its URL, say); `undefined` is a 404. */
  scopeId: (request: Request) => string | undefined
  /**
   * Verify each token with jose before applying it. Without it, tokens are only decoded: then
   * only trusted callers may reach the handler (a private network, mTLS, a check in front).
   */
  verify?: PushVerifyOptions | undefined
  /** The largest body accepted, in bytes. @default 16_384 */
  maxBodyBytes?: number | undefined
  /** The claim that must equal the scope id, or `false` for none. @default 'sub' */
  scopeClaim?: string | false | undefined
}

/**
 * TokenPushHandler is a Fetch-API request handler, as {@link createTokenPushHandler} makes.
 *
 * @example
 * ```ts
 * const handler: TokenPushHandler = createTokenPushHandler({ registry, scopeId: () => 'agent-7' })
 * const response = await handler(
 *   new Request('http://127.0.0.1:8787/token', {
 *     method: 'POST',
 *     headers: { 'content-type': 'application/json' },
 *     body: JSON.stringify({ token: jwt }),
 *   }),
 * )
 * response.status // 204 when the token was applied
 * ```
 */
export type TokenPushHandler = (request: Request) => Promise<Response>

const reasons: Record<Exclude<PushStatus, 204>, string> = {
  400: 'invalid_request',
  401: 'invalid_token',
  403: 'wrong_scope',
  404: 'unknown_scope',
  405: 'method_not_allowed',
  409: 'stale_token',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
}

/** A refusal: the status and a message for the caller, which never quotes the token. */
class Refusal extends AuthError {
  constructor(
    readonly status: Exclude<PushStatus, 204>,
    message: string,
  ) {
    super(message, { code: 'ERR_PUSH_REFUSED' })
  }
}

/** A push handler's defaults. */
const pushHandlerDefaults = Object.freeze({
  /** A token push is a JWT in a small JSON object: 16 KiB leaves room for large tokens, no more. */
  maxBodyBytes: 16_384,
  /** The verified JWT's claim that must equal the scope id (the subject the token was issued to). */
  scopeClaim: 'sub' as string | false,
})

/**
 * createTokenPushHandler makes a Fetch-API handler through which a control plane hands a running
 * process a fresh token for one scope: `POST` with `{"token": "<jwt>"}` as JSON. Every outcome is
 * one status with a JSON body `{error, message}`, checked in this order: 405 not POST, 415 not JSON,
 * 413 body over the limit, 400 malformed body or token, 404 unknown scope, 401 signature, issuer
 * or audience rejected, 403 token for another scope, 409 expired or not newer than the current
 * token; 204 applied. Nothing the caller sends produces a 5xx or changes a token short of 204.
 *
 * @example
 * ```ts
 * const handler = createTokenPushHandler({
 *   registry,
 *   scopeId: (request) => new URL(request.url).pathname.match('^/agents/([^/]+)/token$')?.[1],
 *   verify: { key: createRemoteJWKSet(new URL('https://auth.example.com/jwks')), issuer: 'https://auth.example.com' },
 * })
 * Bun.serve({ fetch: handler }) // or Deno.serve(handler), a Worker's fetch, Hono, toNodeHandler(handler)
 * ```
 */
export function createTokenPushHandler(options: TokenPushHandlerOptions): TokenPushHandler {
  const { registry, scopeId, verify, scopeClaim = pushHandlerDefaults.scopeClaim } = options ?? {}
  if (typeof registry?.setToken !== 'function' || typeof registry.has !== 'function') {
    throw new TypeError('createTokenPushHandler needs a registry')
  }
  if (typeof scopeId !== 'function') throw new TypeError('scopeId must be a function')
  const maxBodyBytes = wholeNumber('maxBodyBytes', options?.maxBodyBytes, pushHandlerDefaults.maxBodyBytes, 1)
  if (scopeClaim !== false && (typeof scopeClaim !== 'string' || scopeClaim.length === 0)) {
    throw new TypeError('scopeClaim must be a claim name or false')
  }
  const key = verify === undefined ? undefined : resolveKey(verify)
  const report = (registry as ReportingRegistry)[reportPush]?.bind(registry)

  return async (request) => {
    const target: { id?: string } = {}
    let status: PushStatus = 204
    let response: Response
    try {
      await apply(request, target)
      response = new Response(null, { status: 204 })
    } catch (error) {
      const refusal = error instanceof Refusal ? error : new Refusal(400, 'the push could not be read')
      status = refusal.status
      response = Response.json(
        { error: reasons[refusal.status], message: refusal.message },
        { status: refusal.status, headers: refusal.status === 405 ? { allow: 'POST' } : {} },
      )
    }
    try {
      report?.(target.id, status)
    } catch {
      // An event handler's failure is not the caller's.
    }
    return response
  }

  // Applies the push or throws a Refusal; `target.id` names the scope once it is known.
  async function apply(request: Request, target: { id?: string }): Promise<void> {
    let id: string | undefined
    try {
      id = scopeId(request)
    } catch {
      id = undefined
    }
    // Reported with every outcome once it names a scope; an unknown id (the caller's input) never.
    if (typeof id === 'string' && registry.has(id)) target.id = id
    if (request.method !== 'POST') throw new Refusal(405, 'send the token with POST')
    const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') throw new Refusal(415, 'send the token as application/json')
    const bytes = await readLimited(request, maxBodyBytes).catch(() => {
      throw new Refusal(400, 'the body could not be read')
    })
    if (bytes === tooLarge) throw new Refusal(413, `the body is larger than ${maxBodyBytes} bytes`)
    const token = readToken(bytes)
    if (target.id === undefined || !registry.has(target.id)) throw new Refusal(404, 'no such scope')
    id = target.id
    const { claims, expired } =
      key === undefined ? { claims: decodeClaims(token), expired: false } : await verified(token, key, verify)
    if (scopeClaim !== false && claims?.[scopeClaim] !== id) {
      throw new Refusal(403, `the token's "${scopeClaim}" claim does not name this scope`)
    }
    // A token for this scope, which only expiry stops: stale (409), checked after the scope (403).
    if (expired) throw new Refusal(409, 'the token has expired')
    let applied: boolean
    try {
      applied = registry.setToken(id, token)
    } catch (error) {
      if (isAuthError(error, 'ERR_CLAIMS_MISMATCH')) throw new Refusal(403, 'the token is not for this scope')
      if (isAuthError(error, 'ERR_DISPOSED')) throw new Refusal(404, 'no such scope')
      throw new Refusal(400, 'the token is malformed')
    }
    if (!applied) {
      // The scope may have been disposed since it was looked up.
      if (!registry.has(id)) throw new Refusal(404, 'no such scope')
      throw new Refusal(409, 'the token has expired or is not newer than the current one')
    }
  }
}

function readToken(bytes: Uint8Array): string {
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new Refusal(400, 'the body is not JSON')
  }
  const raw = (body as { token?: unknown } | null)?.token
  if (typeof body !== 'object' || Array.isArray(body) || typeof raw !== 'string') {
    throw new Refusal(400, 'the body must be {"token": "<jwt>"}')
  }
  // Trimmed before it is verified: a control plane that read the token from a file may send its newline.
  const token = raw.trim()
  try {
    parseToken(token)
  } catch {
    throw new Refusal(400, 'the token is malformed')
  }
  return token
}

type VerifyKey = CryptoKey | Uint8Array | JWK | JWTVerifyGetKey

function resolveKey(verify: PushVerifyOptions): VerifyKey {
  const { key } = verify
  if (key === undefined) throw new TypeError('verify.key is required')
  if (typeof key === 'object' && 'keys' in key && Array.isArray(key.keys))
    return createLocalJWKSet(key as JSONWebKeySet)
  return key as VerifyKey
}

// The claims of a verified token. jose checks `exp` after the signature, issuer and audience, so
// an expired token's claims (on its JWTExpired error) are otherwise verified.
async function verified(
  token: string,
  key: VerifyKey,
  verify: PushVerifyOptions | undefined,
): Promise<{ claims: JWTPayload; expired: boolean }> {
  try {
    const { payload } = await jwtVerify(token, key as Uint8Array, {
      ...(verify?.issuer === undefined ? {} : { issuer: verify.issuer }),
      ...(verify?.audience === undefined ? {} : { audience: verify.audience }),
      ...(verify?.algorithms === undefined ? {} : { algorithms: verify.algorithms }),
    })
    return { claims: payload, expired: false }
  } catch (error) {
    const { code, payload } = error as { code?: unknown; payload?: JWTPayload }
    if (code === 'ERR_JWT_EXPIRED' && payload !== undefined) return { claims: payload, expired: true }
    throw new Refusal(401, 'the token could not be verified')
  }
}
