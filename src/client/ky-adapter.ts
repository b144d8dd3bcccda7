import ky, { type KyInstance, type Options } from 'ky'

// The one file that knows ky's option shapes. ky's own retry (network errors, 5xx, 429) stays
// ky's; the 401 retry happens inside `fetch` below, so a 401 that survives it reaches ky as the
// final response and ky throws its HTTPError as it would for any error status.

/**
 * createKy makes the `ky` instance of a client: the user's options, with the client's `baseUrl`
 * as ky's `baseUrl` and the client's authenticated `fetch` as ky's `fetch`.
 */
export function createKy(
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>,
  baseUrl: string | undefined,
  options: Options | undefined,
): KyInstance {
  return ky.create({ ...options, ...(baseUrl === undefined ? {} : { baseUrl }), fetch })
}
