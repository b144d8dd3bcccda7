import { AuthError } from '../errors.js'
import { errorName } from '../internal/describe.js'
import { discard } from '../internal/discard.js'
import { isRecord } from '../internal/guards.js'
import { readLimited, tooLarge } from '../internal/read-body.js'

/** Identifier is an issuer or resource identifier as it was given, and parsed. */
export interface Identifier {
  given: string
  url: URL
}

/** MetadataRequest is how metadata is fetched: with which `fetch`, for how long, until when. */
export interface MetadataRequest {
  fetch: typeof fetch | undefined
  signal: AbortSignal | undefined
  timeoutMs: number
}

// Metadata documents are a few kilobytes; a server that streams megabytes is not one.
const maxMetadataBytes = 1_000_000

/**
 * parseIdentifier checks an `issuer` or `protectedResource` option: an absolute `https:` URL (or
 * `http:` on a loopback host, for development), without credentials or a fragment.
 */
export function parseIdentifier(value: unknown, name: string, fail: (message: string) => TypeError): Identifier {
  const given = value instanceof URL ? value.href : value
  if (typeof given !== 'string' || !URL.canParse(given)) throw fail(`${name} must be an absolute https: URL`)
  const url = new URL(given)
  if (!isHttpsOrLoopback(url)) {
    throw fail(`${name} must be an absolute https: URL (http: only on a loopback host)`)
  }
  if (url.username !== '' || url.password !== '') throw fail(`${name} must not contain credentials`)
  if (url.hash !== '') throw fail(`${name} must not have a fragment`)
  return { given, url }
}

/**
 * isHttpsOrLoopback is the rule for every URL discovery trusts (identifiers, token endpoints):
 * `https:`, or plain `http:` only to this machine, for development.
 */
export function isHttpsOrLoopback(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname))
}

/** isLoopback tells whether a URL's hostname is this machine: 127.0.0.0/8, [::1] or localhost. */
function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  )
}

/**
 * fetchMetadata GETs one metadata document and returns its JSON object, or `undefined` when the
 * server has none there (404; with `fallback`, any 4xx, as servers that answer 400 or 405 for
 * unknown well-known paths do). Every other failure is an `ERR_DISCOVERY` error naming the URL.
 */
export async function fetchMetadata(
  url: string,
  request: MetadataRequest,
  fallback: boolean,
): Promise<Record<string, unknown> | undefined> {
  const { signal, timeoutMs } = request
  const timeout = AbortSignal.timeout(timeoutMs)
  let response: Response
  let bytes: Uint8Array | typeof tooLarge
  try {
    response = await (request.fetch ?? fetch)(url, {
      headers: { accept: 'application/json' },
      signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
    })
    if (response.status === 404 || (fallback && response.status >= 400 && response.status < 500)) {
      await discard(response)
      return undefined
    }
    bytes = await readLimited(response, maxMetadataBytes)
  } catch (error) {
    if (signal?.aborted === true) throw signal.reason
    if (timeout.aborted) throw discoveryError(`${url} did not answer within ${timeoutMs} ms`)
    throw discoveryError(`${url} could not be fetched (${errorName(error)})`)
  }
  if (!response.ok) throw discoveryError(`${url} answered ${response.status}`)
  if (bytes === tooLarge) throw discoveryError(`${url} answered with more than ${maxMetadataBytes} bytes`)
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw discoveryError(`${url} answered ${response.status} with a body that is not JSON`)
  }
  if (!isRecord(body)) throw discoveryError(`${url} answered ${response.status} with JSON that is not an object`)
  return body
}

/** discoveryError is the error of every failed discovery step (code `ERR_DISCOVERY`, not terminal). */
export function discoveryError(message: string): AuthError {
  return new AuthError(`discovery: ${message}`, { code: 'ERR_DISCOVERY' })
}
