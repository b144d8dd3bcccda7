import { registryHealth } from '../registry/health.js'
import { isRegistryShape } from '../registry/shape.js'
import type { RegistryHealth, TokenRegistry } from '../registry/types.js'
import { healthOf } from '../token/health.js'
import { isTokenProvider } from '../token/shape.js'
import type { TokenHealth, TokenProvider } from '../token/types.js'

/**
 * HealthHandler is a Fetch-API request handler, as {@link createHealthHandler} makes.
 *
 * @example
 * ```ts
 * const handler: HealthHandler = createHealthHandler(registry)
 * const response = await handler(new Request('http://127.0.0.1:8080/readyz'))
 * response.status // 200 when every scope holds a token it would send now, else 503
 * ```
 */
export type HealthHandler = (request: Request) => Promise<Response>

const headers = Object.freeze({ 'content-type': 'application/json', 'cache-control': 'no-store' })

/**
 * createHealthHandler makes a readiness endpoint for a provider or a registry: `GET` (or `HEAD`)
 * answers 200 with the health JSON ({@link TokenHealth} for a provider, {@link RegistryHealth} for a
 * registry) when it is healthy, 503 with the same JSON otherwise, and `Cache-Control: no-store`
 * either way; other methods get 405. The JSON never carries a token. Serve it on `node:http` with
 * `toNodeHandler` from `refreshing-client/node`, or return it from any Fetch-API server.
 *
 * @param target - The provider or registry to report on (from any copy of the library).
 * @throws TypeError when `target` is neither a token provider nor a registry.
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { createHealthHandler } from 'refreshing-client'
 * import { toNodeHandler } from 'refreshing-client/node'
 *
 * const ready = toNodeHandler(createHealthHandler(registry))
 * createServer((request, response) => {
 *   if (request.url === '/readyz') ready(request, response)
 *   else response.writeHead(404).end()
 * }).listen(8080, '127.0.0.1')
 * ```
 */
export function createHealthHandler(target: TokenProvider | TokenRegistry): HealthHandler {
  const read = reader(target)
  return async (request) => {
    const method = request.method
    if (method !== 'GET' && method !== 'HEAD') {
      const body = '{"error":"method_not_allowed","message":"use GET or HEAD"}'
      return new Response(body, { status: 405, headers: { ...headers, allow: 'GET, HEAD' } })
    }
    const health = read()
    return new Response(method === 'HEAD' ? null : JSON.stringify(health), {
      status: health.healthy ? 200 : 503,
      headers,
    })
  }
}

// Recognised by shape, never by class: a provider or registry of another copy of the library works.
function reader(target: TokenProvider | TokenRegistry): () => TokenHealth | RegistryHealth {
  if (isRegistryShape(target)) {
    return typeof target.health === 'function' ? () => target.health() : () => registryHealth(target)
  }
  if (isTokenProvider(target)) return () => healthOf(target)
  throw new TypeError('createHealthHandler needs a TokenProvider or a TokenRegistry')
}
