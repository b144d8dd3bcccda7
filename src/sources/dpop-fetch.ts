import type { DPoPSigner } from '../dpop/signer.js'
import { discard } from '../internal/discard.js'
import { readErrorBody } from './token-response.js'

/**
 * dpopFetch wraps a token endpoint's `fetch` so that every request carries a fresh DPoP proof
 * (RFC 9449 §5) and every answer's `DPoP-Nonce` is kept. A 400 `use_dpop_nonce` (§8) is sent once
 * more, with the new nonce and the same form body; whatever the second answer is goes back to the
 * caller. It sits under ky, so each of ky's own retries is a new send with a new proof.
 */
export function dpopFetch(dpop: DPoPSigner, fetchImpl: typeof fetch | undefined): typeof fetch {
  return async (input, init) => {
    const first = input instanceof Request ? input : new Request(input, init)
    // ky passes its own extra options (a dispatcher, say) as `init` next to its Request; the
    // request's own fields are in the Request already.
    const extras = input instanceof Request ? init : undefined
    // Kept unread for the nonce retry: a body can be read once.
    const spare = first.clone()
    const response = await sendWithProof(dpop, fetchImpl ?? globalThis.fetch, first, extras)
    if (response.status !== 400 || !(await asksForNonce(response))) {
      void discard(spare)
      return response
    }
    await discard(response)
    return sendWithProof(dpop, fetchImpl ?? globalThis.fetch, spare, extras)
  }
}

async function sendWithProof(
  dpop: DPoPSigner,
  fetchImpl: typeof fetch,
  request: Request,
  extras: RequestInit | undefined,
): Promise<Response> {
  const headers = new Headers(request.headers)
  headers.set('dpop', await dpop.proof(request.method, request.url))
  const signed = new Request(request, { headers })
  const response = await (extras === undefined ? fetchImpl(signed) : fetchImpl(signed, extras))
  dpop.learn(request.url, response)
  return response
}

// The error body of a 400, read from a copy (the caller gets the answer whole), in any dialect.
async function asksForNonce(response: Response): Promise<boolean> {
  return readErrorBody(await response.clone().text())?.error === 'use_dpop_nonce'
}
