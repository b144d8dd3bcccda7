/** The body was longer than allowed. */
export const tooLarge = Symbol('too large')

/**
 * readLimited reads the body of a request or a response as a stream and stops as soon as it passes
 * `limit` bytes, so a huge body is never buffered whole. Returns the bytes, or `tooLarge`.
 */
export async function readLimited(
  request: Pick<Request, 'headers' | 'body'>,
  limit: number,
): Promise<Uint8Array | typeof tooLarge> {
  const declared = Number(request.headers.get('content-length'))
  if (declared > limit) {
    await request.body?.cancel().catch(() => {})
    return tooLarge
  }
  if (request.body === null) return new Uint8Array(0)
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let length = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    length += value.byteLength
    if (length > limit) {
      await reader.cancel().catch(() => {})
      return tooLarge
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}
