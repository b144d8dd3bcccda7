import { discard } from '../internal/discard.js'
import { isFormData, type ReplayableBody, replayable, serializeFormData } from './body.js'

/**
 * HeaderBag holds a request's headers: a plain object with lower-case names on the fast path
 * (fetch builds its own `Headers` from it anyway), or a `Headers` when the caller gave one, an
 * array, or a custom `authorize` needs one.
 */
export type HeaderBag = Record<string, string> | Headers

/**
 * Outgoing is one caller's request, prepared so that it can be sent more than once without
 * touching what the caller passed: the first attempt, redirect hops and the replay after a 401.
 */
export interface Outgoing {
  /** The absolute URL. */
  readonly url: string
  /** Our own copy of the caller's `init`; each send sets its `headers` and `body`. */
  readonly init: RequestInit
  /** Static headers, then per-request headers, then the token (set per send). */
  headers: HeaderBag
  /** The body for each send. */
  readonly body: ReplayableBody
  /** A clone of the caller's `Request`, when it was given one: sent as is (clones keep the body's length). */
  readonly request: Request | undefined
  /** Whether we follow redirects ourselves, to drop the token on a cross-origin hop. */
  readonly follow: boolean
}

/**
 * Whether the runtime hands `redirect: 'manual'` responses to us: Node, Bun, Deno and Workers do;
 * browsers make them opaque. A browser-like user agent on Node (jsdom, happy-dom) still has Node's fetch.
 */
const manualRedirects =
  !/^Mozilla\//.test((globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? '') ||
  typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string'

/**
 * prepareOutgoing builds an {@link Outgoing} from fetch's arguments. It never mutates them: the
 * headers and `init` are copied, a `Request` is cloned before anything reads it, and a `FormData`
 * body is serialised once (the only case that needs an await).
 */
export function prepareOutgoing(
  url: string,
  input: string | URL | Request,
  init: RequestInit | undefined,
  staticHeaders: Readonly<Record<string, string>> | undefined,
  needsHeaders: boolean,
): Outgoing | Promise<Outgoing> {
  const request = typeof input === 'string' || input instanceof URL ? undefined : input
  const perRequest = init?.headers ?? request?.headers
  const headers = collectHeaders(staticHeaders, perRequest, needsHeaders)
  const own: RequestInit = {}
  let body: BodyInit | null | undefined
  if (init !== undefined) {
    for (const key in init) {
      if (key === 'body') body = init.body
      else if (key !== 'headers') (own as Record<string, unknown>)[key] = (init as Record<string, unknown>)[key]
    }
  }
  const follow = manualRedirects && (own.redirect ?? request?.redirect ?? 'follow') === 'follow'
  if (follow) own.redirect = 'manual'
  if (request !== undefined && body === undefined) {
    const template = request.body === null ? request : request.clone()
    return { url, init: own, headers, request: template, follow, body: requestBody(template) }
  }
  if (request !== undefined) {
    // A Request with a body in `init`, as `new Request(request, { body })` would: the request's
    // method and signal, init's body. The request itself is not sent, so its body is never read.
    own.method ??= request.method
    own.signal ??= request.signal
  }
  if (isFormData(body)) {
    return serializeFormData(body).then((serialized) => {
      const bag = toHeaders(headers)
      if (!bag.has('content-type')) bag.set('content-type', serialized.contentType)
      return { url, init: own, headers: bag, request: undefined, follow, body: replayable(serialized.body) }
    })
  }
  return { url, init: own, headers, request: undefined, follow, body: replayable(body) }
}

/** toHeaders returns the bag as a `Headers` (a copy when it is a plain object). */
export function toHeaders(bag: HeaderBag): Headers {
  return bag instanceof Headers ? bag : new Headers(bag)
}

// Static headers first, then per-request ones replace those of the same name.
function collectHeaders(
  staticHeaders: Readonly<Record<string, string>> | undefined,
  perRequest: HeadersInit | undefined,
  needsHeaders: boolean,
): HeaderBag {
  if (needsHeaders) {
    const headers = new Headers(staticHeaders)
    if (perRequest !== undefined) {
      new Headers(perRequest).forEach((value, name) => {
        headers.set(name, value)
      })
    }
    return headers
  }
  const bag: Record<string, string> = {}
  for (const name in staticHeaders) bag[name] = staticHeaders[name] as string
  if (perRequest === undefined) return bag
  if (isPlainObject(perRequest)) {
    for (const name in perRequest) bag[name.toLowerCase()] = (perRequest as Record<string, string>)[name] as string
    return bag
  }
  // A Headers (of any realm or library) or a list of pairs: Headers reads both, lower-cases the
  // names and joins repeated ones, as fetch would.
  const headers = perRequest instanceof Headers ? perRequest : new Headers(perRequest)
  headers.forEach((value, name) => {
    bag[name] = value
  })
  return bag
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/** A `Request`'s body for redirect hops: each gets a clone of the template, kept unread until then. */
function requestBody(template: Request): ReplayableBody {
  if (template.body === null) return replayable(null)
  return {
    streamed: true,
    next: () => template.clone().body,
    release() {
      void discard(template)
    },
  }
}
