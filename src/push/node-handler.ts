import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * NodeRequestListener is a `node:http` request listener, as {@link toNodeHandler} returns.
 *
 * @example
 * ```ts
 * const push: NodeRequestListener = toNodeHandler(pushHandler)
 * createServer((request, response) => {
 *   if (request.url?.startsWith('/agents/')) push(request, response)
 *   else response.writeHead(404).end()
 * }).listen(8787, '127.0.0.1')
 * ```
 */
export type NodeRequestListener = (request: IncomingMessage, response: ServerResponse) => void

/**
 * toNodeHandler adapts a Fetch-API handler (such as `createTokenPushHandler`'s) to `node:http`:
 * the request body stays a stream (so a size limit stops reading early), and the response is
 * written back with its status, headers and body.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { toNodeHandler } from 'refreshing-client/node'
 * createServer(toNodeHandler(pushHandler)).listen(8787, '127.0.0.1')
 * ```
 */
export function toNodeHandler(handler: (request: Request) => Promise<Response>): NodeRequestListener {
  if (typeof handler !== 'function') throw new TypeError('toNodeHandler needs a handler function')
  return (request, response) => {
    respond(handler, request, response).catch(() => {
      // The handler itself never rejects; this is a broken socket, or a request Node could not
      // turn into a `Request` (an invalid header value): nothing the caller can be told better.
      if (!response.headersSent) response.writeHead(400, { 'content-type': 'application/json' })
      response.end('{"error":"invalid_request","message":"the request could not be read"}')
    })
  }
}

async function respond(
  handler: (request: Request) => Promise<Response>,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  const method = incoming.method ?? 'GET'
  const headers = new Headers()
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
    headers.append(incoming.rawHeaders[i] as string, incoming.rawHeaders[i + 1] as string)
  }
  const withBody = method !== 'GET' && method !== 'HEAD'
  const request = new Request(new URL(incoming.url ?? '/', 'http://localhost'), {
    method,
    headers,
    ...(withBody ? { body: bodyOf(incoming), duplex: 'half' } : {}),
  } as RequestInit)
  const response = await handler(request)
  const head: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    head[name] = value
  })
  if (!incoming.complete) head['connection'] = 'close'
  outgoing.writeHead(response.status, head)
  if (response.body === null) {
    outgoing.end()
    return
  }
  const body = Buffer.from(await response.arrayBuffer())
  outgoing.end(body)
}

// The body as a web stream. Unlike `Readable.toWeb`, cancelling it (the handler stops reading at
// its size limit) does not destroy the socket, which would lose the 413 on its way out: the rest
// of the body is drained and the connection closed after the response.
function bodyOf(incoming: IncomingMessage): ReadableStream<Uint8Array> {
  let open = true
  return new ReadableStream<Uint8Array>({
    start(controller) {
      incoming.on('data', (chunk: Buffer) => {
        if (!open) return
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        if ((controller.desiredSize ?? 0) <= 0) incoming.pause()
      })
      incoming.on('end', () => {
        if (open) controller.close()
        open = false
      })
      incoming.on('error', (error) => {
        if (open) controller.error(error)
        open = false
      })
    },
    pull() {
      incoming.resume()
    },
    cancel() {
      open = false
      incoming.resume()
    },
  })
}
