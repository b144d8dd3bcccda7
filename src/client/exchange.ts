import { discard } from '../internal/discard.js'
import type { Outgoing } from './outgoing.js'

/**
 * BeforeHop is called before each redirect hop is sent, with the hop's URL, method and headers (a
 * DPoP client signs a proof for it), whether the token still goes with it, and the redirect
 * response that led there (and its URL).
 */
export type BeforeHop = (
  hop: { url: string; method: string; headers: Headers; carried: boolean },
  from: { url: string; response: Response },
) => void | Promise<void>

/** The result of one send: the final response, and whether its hop carried the token. */
export interface Exchanged {
  response: Response
  carried: boolean
}

const maxRedirects = 20
const contentHeaders = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']
// What the fetch standard (and undici) drop on a hop to another origin; we drop what `authorize`
// set as well.
const credentialHeaders = ['authorization', 'proxy-authorization', 'cookie', 'host']

/**
 * send sends `outgoing` once, its headers already carrying the token. It adds no await of its own:
 * this is every request's path.
 */
export function send(fetchImpl: typeof fetch, outgoing: Outgoing): Promise<Response> {
  const { init, request, body } = outgoing
  init.headers = outgoing.headers
  if (request !== undefined) {
    // A clone of the caller's Request keeps its body's length (no chunked re-encoding).
    if (request.body === null) return fetchImpl(request, init)
    ;(init as { duplex?: string }).duplex = 'half'
    return fetchImpl(request.clone(), init)
  }
  const next = body.next()
  if (next !== null) {
    init.body = next
    if (body.streamed) (init as { duplex?: string }).duplex = 'half'
  }
  return fetchImpl(outgoing.url, init)
}

/**
 * followRedirects follows the redirect `response` answered: a hop to another origin drops every
 * header `authorize` set (`authNames`), whatever its name — runtimes strip only `Authorization`
 * on such redirects.
 */
export async function followRedirects(
  fetchImpl: typeof fetch,
  outgoing: Outgoing,
  authNames: readonly string[],
  response: Response,
  beforeHop?: BeforeHop,
): Promise<Exchanged> {
  // Hops change headers and method: work on copies, so that a replay starts from the original.
  const headers = new Headers(outgoing.headers)
  const init: RequestInit & { duplex?: string | undefined } = {
    ...outgoing.init,
    headers,
    method: (outgoing.init.method ?? outgoing.request?.method ?? 'GET').toUpperCase(),
    signal: outgoing.init.signal ?? outgoing.request?.signal ?? null,
  }
  let url = outgoing.url
  let carried = true
  let withBody = true
  let hops = 0
  for (; isRedirect(response.status); hops++) {
    const location = response.headers.get('location')
    if (location === null) break
    if (hops === maxRedirects) throw new TypeError(`more than ${maxRedirects} redirects from ${new URL(url).origin}`)
    const next = new URL(location, url)
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError('redirect to a non-http(s) URL')
    await discard(response)
    // The fetch standard's rewrites: 303 becomes GET, and so does a POST answered by 301 or 302.
    if ((response.status === 303 && init.method !== 'HEAD') || (init.method === 'POST' && response.status <= 302)) {
      init.method = 'GET'
      withBody = false
      for (const name of contentHeaders) headers.delete(name)
    }
    // Any change of origin, even to another allowed origin, is a cross-origin redirect: the
    // token stays behind, as browsers do with `Authorization`.
    if (carried && next.origin !== new URL(url).origin) {
      carried = false
      for (const name of authNames) headers.delete(name)
      for (const name of credentialHeaders) headers.delete(name)
    }
    if (beforeHop !== undefined) {
      await beforeHop({ url: next.href, method: init.method as string, headers, carried }, { url, response })
    }
    url = next.href
    const body = withBody ? outgoing.body.next() : null
    init.body = body
    init.duplex = body !== null && outgoing.body.streamed ? 'half' : undefined
    response = await fetchImpl(url, init)
  }
  if (hops > 0) markRedirected(response, url)
  return { response, carried }
}

/** isRedirect tells whether `status` is a redirect that fetch would follow. */
export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308
}

// A manually followed response says where it came from, as a followed one would.
function markRedirected(response: Response, url: string): void {
  try {
    Object.defineProperty(response, 'url', { value: url, configurable: true })
    Object.defineProperty(response, 'redirected', { value: true, configurable: true })
  } catch {
    // A frozen or exotic Response: its url stays the last hop's.
  }
}
