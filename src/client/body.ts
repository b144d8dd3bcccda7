/**
 * ReplayableBody hands out the same request body for every send: the first attempt, redirect
 * hops and the one retry after a 401. `release()` frees what is kept for later sends.
 */
export interface ReplayableBody {
  /** The body for the next send. */
  next(): BodyInit | null
  /** Whether the body is a stream (sends need `duplex: 'half'`). */
  readonly streamed: boolean
  /** Drops the spare copy once no further send can happen. */
  release(): void
}

const none: ReplayableBody = { next: () => null, streamed: false, release() {} }

/**
 * replayable prepares `body` to be sent more than once. Strings, bytes, `Blob`s and
 * `URLSearchParams` are reused as they are (fetch reads them afresh each time). A stream is teed
 * before each send, keeping one branch in reserve. `FormData` is handled by {@link serializeFormData}
 * first, so that every send carries the same multipart boundary.
 */
export function replayable(body: BodyInit | null | undefined): ReplayableBody {
  if (body === undefined || body === null) return none
  const stream = isStream(body) ? body : isAsyncIterable(body) ? fromAsyncIterable(body) : undefined
  if (stream === undefined) return { next: () => body, streamed: false, release() {} }
  let spare: ReadableStream<Uint8Array> = stream
  return {
    streamed: true,
    next() {
      const [send, keep] = spare.tee()
      spare = keep
      return send
    },
    release() {
      spare.cancel().catch(() => {})
    },
  }
}

/**
 * serializeFormData encodes a `FormData` body once, to a `Blob` and its multipart content type:
 * undici picks a new boundary each time it sends a `FormData`, so a replay would differ.
 */
export async function serializeFormData(form: FormData): Promise<{ body: Blob; contentType: string }> {
  const encoded = new Response(form)
  const contentType = encoded.headers.get('content-type') as string
  return { body: await encoded.blob(), contentType }
}

/** isFormData recognises a `FormData` body, also one made by another realm. */
export function isFormData(body: unknown): body is FormData {
  return typeof FormData !== 'undefined' && body instanceof FormData
}

function isStream(body: BodyInit): body is ReadableStream<Uint8Array> {
  return typeof ReadableStream !== 'undefined' && body instanceof ReadableStream
}

// Node's fetch also takes an async iterable (a Node Readable, a generator), which can be read only
// once: it becomes a stream, teed like any other.
function isAsyncIterable(body: unknown): body is AsyncIterable<Uint8Array | string> {
  return typeof body === 'object' && body !== null && Symbol.asyncIterator in body
}

function fromAsyncIterable(body: AsyncIterable<Uint8Array | string>): ReadableStream<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next()
      if (done === true) controller.close()
      else controller.enqueue(typeof value === 'string' ? new TextEncoder().encode(value) : value)
    },
    async cancel(reason) {
      await iterator.return?.(reason)
    },
  })
}
