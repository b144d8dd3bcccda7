import { CrossOriginError } from '../errors.js'

/**
 * OriginPolicy knows which origins may receive the token and resolves request URLs against
 * `baseUrl`. It is on every request's path, so the common cases avoid parsing a URL: a
 * path-absolute input (`/v1/x`) goes to the base origin, and an absolute input that starts with
 * an allowed origin followed by `/`, `?` or `#` is that origin. Anything else is parsed.
 */
export class OriginPolicy {
  /** `baseUrl`, resolved, as a string (a `URL` object per client would cost ~250 bytes). */
  readonly base: string | undefined
  readonly #baseOrigin: string | undefined
  readonly #allowed: readonly string[]

  constructor(baseUrl: string | URL | undefined, allowedOrigins: readonly string[] | undefined) {
    if (baseUrl !== undefined) {
      if (typeof baseUrl !== 'string' && !(baseUrl instanceof URL))
        throw new TypeError('baseUrl must be a string or URL')
      const base = parseHttpUrl(baseUrl, 'baseUrl')
      this.base = base.href
      this.#baseOrigin = base.origin
    }
    if (allowedOrigins !== undefined && !Array.isArray(allowedOrigins)) {
      throw new TypeError('allowedOrigins must be an array of origins')
    }
    const allowed = new Set<string>()
    if (this.#baseOrigin !== undefined) allowed.add(this.#baseOrigin)
    for (const origin of allowedOrigins ?? []) allowed.add(parseHttpUrl(origin, 'allowedOrigins').origin)
    if (allowed.size === 0) {
      throw new TypeError(
        'a RefreshingClient needs baseUrl or allowedOrigins: the origins that may receive the token must be explicit',
      )
    }
    this.#allowed = [...allowed]
  }

  /** The allowed origins, normalised. */
  get origins(): string[] {
    return [...this.#allowed]
  }

  /** resolve returns the absolute URL for `input`, or throws `CrossOriginError` if it may not get the token. */
  resolve(input: string | URL): string {
    if (typeof input === 'string') {
      const baseOrigin = this.#baseOrigin
      if (baseOrigin !== undefined && input.charCodeAt(0) === 47 /* / */ && !startsAuthority(input.charCodeAt(1))) {
        return baseOrigin + input
      }
      for (const origin of this.#allowed) if (startsWithOrigin(input, origin)) return input
    }
    const url = this.#parse(input)
    this.check(url.origin)
    return url.href
  }

  /** check throws `CrossOriginError` unless `origin` may receive the token. */
  check(origin: string): void {
    if (!this.#allowed.includes(origin)) throw new CrossOriginError(origin)
  }

  #parse(input: string | URL): URL {
    if (input instanceof URL) return input
    try {
      return new URL(input, this.base)
    } catch {
      throw new TypeError(
        this.base === undefined ? 'a relative URL needs the client to have a baseUrl' : 'the request URL is not valid',
      )
    }
  }
}

// After a leading `/`, these may begin an authority (`//host`, `/\\host`): the URL parser drops
// tabs and newlines first, so `/\t/host` is `//host` too.
function startsAuthority(code: number): boolean {
  return code === 47 || code === 92 || code === 9 || code === 10 || code === 13
}

function startsWithOrigin(input: string, origin: string): boolean {
  if (!input.startsWith(origin)) return false
  const next = input.charCodeAt(origin.length)
  // The authority ends here: `/`, `?` or `#` (or the end). Anything else (`@`, `.`, `:`, `\`)
  // could make the host another one, so the URL parser decides.
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35
}

function parseHttpUrl(value: string | URL, option: string): URL {
  let url: URL
  try {
    const location = (globalThis as { location?: { href?: string } }).location?.href
    url = new URL(value, location)
  } catch {
    throw new TypeError(`${option} must contain absolute http(s) URLs`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`${option} must use http or https`)
  return url
}
