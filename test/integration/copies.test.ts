import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import * as source from '../../src/index.js'

// Three copies of the library in one process, as separately bundled plugins would have them:
// this source, the built ESM output and the built CJS output (each its own module instance).
type Library = typeof source
const dist = fileURLToPath(new URL('../../dist/', import.meta.url))
const loadCjs = (): Library => createRequire(import.meta.url)(`${dist}index.js`) as Library
const loadEsm = async (): Promise<Library> => (await import(pathToFileURL(`${dist}index.mjs`).href)) as Library
const key = Symbol.for('refreshing-client.registry.v1')

afterEach(() => {
  ;(globalThis as Record<symbol, { dispose(): void } | undefined>)[key]?.dispose()
})

describe('copies of the library in one process', () => {
  it('are distinct module instances', async () => {
    const [esm, cjs] = [await loadEsm(), loadCjs()]
    expect(esm.RefreshingClient).not.toBe(cjs.RefreshingClient)
    expect(esm.RefreshingClient).not.toBe(source.RefreshingClient)
  })

  it('share one global registry, and each sees the scopes of the others', async () => {
    const [esm, cjs] = [await loadEsm(), loadCjs()]
    const registry = cjs.getGlobalRegistry()
    expect(esm.getGlobalRegistry()).toBe(registry)
    expect(source.getGlobalRegistry()).toBe(registry)
    cjs.getGlobalRegistry().scope('agent-a', { initialToken: 'token-of-a' })
    expect(await esm.getGlobalRegistry().get('agent-a')?.tokens.getToken()).toBe('token-of-a')
    expect(source.getGlobalRegistry().setToken('agent-a', { accessToken: 'pushed', expiresIn: 60 })).toBe(true)
    expect(cjs.getGlobalRegistry().get('agent-a')?.tokens.current?.accessToken).toBe('pushed')
    esm.getGlobalRegistry().get('agent-a')?.dispose()
    expect(cjs.getGlobalRegistry().size).toBe(0)
  })

  it('work together: a client of one copy takes a provider of another, and errors are recognised across', async () => {
    const [esm, cjs] = [await loadEsm(), loadCjs()]
    const tokens = cjs.createTokenProvider({ initialToken: 'cross-copy-token' })
    const seen: (string | null)[] = []
    const client = new esm.RefreshingClient({
      tokens,
      baseUrl: 'http://127.0.0.1:9',
      fetch: async (input, init) => {
        seen.push(new Request(input, init).headers.get('authorization'))
        return new Response(null, { status: 204 })
      },
    })
    expect((await client.fetch('/x')).status).toBe(204)
    expect(seen).toEqual(['Bearer cross-copy-token'])
    const scope = source.createRegistry().scope('a', { tokens })
    expect(scope.tokens).toBe(tokens)
    tokens.dispose()
    const error = await client.fetch('/y').catch((caught: unknown) => caught)
    expect(source.isAuthError(error, 'ERR_DISPOSED')).toBe(true)
    expect(esm.isAuthError(new cjs.CrossOriginError('http://x'), 'ERR_CROSS_ORIGIN')).toBe(true)
    expect(error).not.toBeInstanceOf(esm.DisposedError)
    client.dispose()
    scope.dispose()
  })

  it('let a newer copy use an older copy registry through the version-1 shape', async () => {
    const esm = await loadEsm()
    // The smallest registry a v1 copy could have left in the slot: no push reporting, no extras.
    const scopes = new Map<string, source.Scope>()
    const older = source.createRegistry()
    const minimal = {
      scope: (id: string, options?: source.ScopeOptions) => {
        const scope = older.scope(id, options)
        scopes.set(id, scope)
        return scope
      },
      get: (id: string) => older.get(id),
      has: (id: string) => older.has(id),
      ids: () => older.ids(),
      get size() {
        return older.size
      },
      setToken: (id: string, token: source.TokenInput) => older.setToken(id, token),
      refreshAll: () => older.refreshAll(),
      on: older.on.bind(older),
      dispose: () => {
        older.dispose()
        delete (globalThis as Record<symbol, unknown>)[key]
      },
      [Symbol.dispose]: () => minimal.dispose(),
    }
    ;(globalThis as Record<symbol, unknown>)[key] = minimal
    expect(esm.getGlobalRegistry()).toBe(minimal)
    esm.getGlobalRegistry().scope('x', { initialToken: 'x-token' })
    expect(await minimal.get('x')?.tokens.getToken()).toBe('x-token')
  })
})
