import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import {
  createRegistry,
  createTokenProvider,
  DisposedError,
  getGlobalRegistry,
  isAuthError,
  type Scope,
  type TokenRegistry,
} from '../../src/index.js'
import { mint } from '../helpers/jwt.js'
import { record } from '../helpers/record.js'

const okFetch: typeof fetch = async () => new Response('{}', { status: 200 })
const registries: TokenRegistry[] = []

function registry(): TokenRegistry {
  const made = createRegistry()
  registries.push(made)
  return made
}

afterEach(() => {
  for (const made of registries.splice(0)) {
    made.dispose()
    expect(made.size).toBe(0)
  }
})

describe('createRegistry', () => {
  it('gets or creates one scope per id, each with its own provider named after it', () => {
    const tokens = registry()
    const created = record(tokens, 'scope')
    const a = tokens.scope('a', { initialToken: 'token-a' })
    expect(tokens.scope('a')).toBe(a)
    expect(tokens.scope('a', { initialToken: 'ignored' })).toBe(a)
    const b = tokens.scope('b')
    expect(a.tokens).not.toBe(b.tokens)
    expect(a.tokens.current?.accessToken).toBe('token-a')
    expect(b.tokens.state).toBe('empty')
    expect(JSON.stringify(a.tokens)).toBe('{"name":"token provider \\"a\\"","state":"fresh"}')
    expect([tokens.size, [...tokens.ids()], tokens.has('a'), tokens.get('b')]).toEqual([2, ['a', 'b'], true, b])
    expect(tokens.get('c')).toBeUndefined()
    expect(created).toEqual([{ id: 'a' }, { id: 'b' }])
  })

  it('refuses a second call that names another provider for an existing scope', () => {
    const tokens = registry()
    const shared = createTokenProvider({ initialToken: 'x' })
    const scope = tokens.scope('a', { tokens: shared })
    expect(tokens.scope('a', { tokens: shared })).toBe(scope)
    expect(() => tokens.scope('a', { tokens: createTokenProvider({}) })).toThrow(
      'scope "a" already exists with another provider',
    )
    shared.dispose()
  })

  it('validates ids and options', () => {
    const tokens = registry()
    expect(() => tokens.scope('')).toThrow(TypeError)
    expect(() => tokens.scope(1 as never)).toThrow(TypeError)
    expect(() => tokens.scope('a', 'x' as never)).toThrow('scope options must be an object')
    expect(() => tokens.scope('a', { tokens: {} as never })).toThrow('tokens must be a TokenProvider')
    expect(tokens.size).toBe(0)
  })

  it('pushes to exactly one scope, and says false for an unknown one or an older token', async () => {
    const tokens = registry()
    const a = tokens.scope('a')
    const b = tokens.scope('b')
    const newer = await mint({ sub: 'a', lifetimeMs: 7_200_000 })
    const older = await mint({ sub: 'a', lifetimeMs: 3_600_000 })
    expect(tokens.setToken('a', newer)).toBe(true)
    expect(tokens.setToken('a', older)).toBe(false)
    expect(tokens.setToken('nobody', newer)).toBe(false)
    expect(a.tokens.current?.accessToken).toBe(newer)
    expect(b.tokens.current).toBeUndefined()
  })

  it('disposes a scope: members last-in first-out, past a throwing one, and leaves the registry', () => {
    const tokens = registry()
    const left = record(tokens, 'disposed')
    const scope = tokens.scope('a', { initialToken: 'x' })
    const order: string[] = []
    scope.add(() => order.push('first'))
    scope.add({
      [Symbol.dispose]: () => {
        order.push('second')
        throw new Error('second failed')
      },
    })
    scope.add({ dispose: () => order.push('third') })
    let error: unknown
    try {
      scope.dispose()
    } catch (caught) {
      error = caught
    }
    expect((error as Error).message).toBe('second failed')
    expect(order).toEqual(['third', 'second', 'first'])
    expect(scope.tokens.state).toBe('disposed')
    expect([scope.disposed, tokens.has('a'), tokens.size]).toEqual([true, false, 0])
    expect(left).toEqual([{ id: 'a' }])
    scope.dispose()
    expect(order).toHaveLength(3)
    expect(() => scope.client({ baseUrl: 'http://127.0.0.1:1' })).toThrow(DisposedError)
    expect(() => scope.add(() => {})).toThrow(DisposedError)
  })

  it('reports several failures as one AggregateError', () => {
    const scope = registry().scope('a')
    scope.add(() => {
      throw new Error('one')
    })
    scope.add(() => {
      throw new Error('two')
    })
    let error: unknown
    try {
      scope.dispose()
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(AggregateError)
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual(['two', 'one'])
  })

  it('lets a disposed id be created afresh, and a stale scope never removes the new one', () => {
    const tokens = registry()
    const first = tokens.scope('a')
    first.dispose()
    const second = tokens.scope('a')
    expect(second).not.toBe(first)
    first.dispose()
    expect(tokens.get('a')).toBe(second)
  })

  it('owns its clients: disposing one client removes just that one', () => {
    const scope = registry().scope('a', { initialToken: 'x' })
    const one = scope.client({ baseUrl: 'http://127.0.0.1:1', fetch: okFetch })
    const two = scope.client({ baseUrl: 'http://127.0.0.1:2', fetch: okFetch })
    expect(one.tokens).toBe(scope.tokens)
    expect(JSON.parse(JSON.stringify(scope)).members).toBe(3)
    one.dispose()
    expect(JSON.parse(JSON.stringify(scope)).members).toBe(2)
    expect(scope.tokens.state).toBe('fresh')
    scope.dispose()
    expect(() => two.ky).toThrow(DisposedError)
    expect(scope.tokens.state).toBe('disposed')
  })

  it('never disposes a provider passed in as { tokens }', () => {
    const shared = createTokenProvider({ initialToken: 'container-token' })
    const tokens = registry()
    tokens.scope('a', { tokens: shared }).dispose()
    tokens.scope('b', { tokens: shared })
    tokens.dispose()
    expect(shared.state).toBe('fresh')
    shared.dispose()
  })

  it('refuses add() of something it cannot dispose', () => {
    const scope = registry().scope('a')
    expect(() => scope.add({} as never)).toThrow(TypeError)
    expect(() => scope.add(null as never)).toThrow(TypeError)
  })

  it('disposes the scope at the end of a `using` block', () => {
    const tokens = registry()
    let escaped: Scope | undefined
    {
      using scope = tokens.scope('a')
      escaped = scope
      expect(tokens.size).toBe(1)
    }
    expect(escaped.disposed).toBe(true)
    expect(tokens.size).toBe(0)
  })

  it('disposes every scope with the registry, and refuses calls afterwards', async () => {
    const tokens = createRegistry()
    const a = tokens.scope('a')
    tokens.scope('b')
    tokens.dispose()
    tokens[Symbol.dispose]()
    expect([a.disposed, tokens.size]).toEqual([true, 0])
    expect(() => tokens.scope('c')).toThrow(DisposedError)
    expect(() => tokens.setToken('a', 'x')).toThrow(DisposedError)
    expect(() => tokens.on('scope', () => {})).toThrow(DisposedError)
    await expect(tokens.refreshAll()).rejects.toBeInstanceOf(DisposedError)
  })

  it('never shows a token when inspected or serialised', async () => {
    const { inspect } = await import('node:util')
    const tokens = registry()
    const scope = tokens.scope('a', { initialToken: 'secret-token-value' })
    for (const value of [tokens, scope]) {
      for (const text of [String(value), JSON.stringify(value), inspect(value, { showHidden: true, depth: 20 })]) {
        expect(text).not.toContain('secret-token-value')
      }
    }
    expect(JSON.stringify(tokens)).toBe('{"size":1,"disposed":false}')
  })

  it('types its events', () => {
    const tokens = registry()
    tokens.on('scope', (event) => expectTypeOf(event).toEqualTypeOf<{ id: string }>())
    tokens.on('error', (event) => expectTypeOf(event).toEqualTypeOf<{ id: string; error: unknown }>())
  })
})

describe('refreshAll', () => {
  it('forces one refresh per provider with bounded concurrency, skipping push-only ones', async () => {
    const tokens = registry()
    let running = 0
    let peak = 0
    let calls = 0
    const fetchToken = async () => {
      calls++
      running++
      peak = Math.max(peak, running)
      await new Promise((resolve) => setTimeout(resolve, 2))
      running--
      return `t${calls}`
    }
    for (let i = 0; i < 30; i++) tokens.scope(`s${i}`, { fetchToken })
    const shared = createTokenProvider({ fetchToken })
    tokens.scope('shared-1', { tokens: shared })
    tokens.scope('shared-2', { tokens: shared })
    tokens.scope('push-only')
    const result = await tokens.refreshAll({ concurrency: 4 })
    expect(result).toEqual({ refreshed: 31, failed: 0 })
    expect(calls).toBe(31)
    expect(peak).toBe(4)
    expect(await tokens.refreshAll({ filter: (scope) => scope.id.startsWith('s1') })).toEqual({
      refreshed: 11,
      failed: 0,
    })
    shared.dispose()
  })

  it('counts failures and reports each as an error event, without throwing', async () => {
    const tokens = registry()
    const errors = record(tokens, 'error')
    tokens.scope('good', { fetchToken: async () => 'ok' })
    tokens.scope('bad', { fetchToken: async () => Promise.reject(new Error('down')) })
    expect(await tokens.refreshAll()).toEqual({ refreshed: 1, failed: 1 })
    expect(errors).toHaveLength(1)
    expect(errors[0]?.id).toBe('bad')
    expect(isAuthError(errors[0]?.error, 'ERR_REFRESH')).toBe(true)
    await expect(tokens.refreshAll({ concurrency: 0 })).rejects.toThrow(RangeError)
    await expect(tokens.refreshAll({ filter: 'x' as never })).rejects.toThrow(TypeError)
  })
})

describe('getGlobalRegistry', () => {
  const key = Symbol.for('refreshing-client.registry.v1')

  it('returns one registry per process, and a fresh one after it is disposed', () => {
    const first = getGlobalRegistry()
    expect(getGlobalRegistry()).toBe(first)
    expect((globalThis as Record<symbol, unknown>)[key]).toBe(first)
    first.scope('x')
    first.dispose()
    expect((globalThis as Record<symbol, unknown>)[key]).toBeUndefined()
    const second = getGlobalRegistry()
    expect(second).not.toBe(first)
    expect(second.size).toBe(0)
    second.dispose()
  })

  it('refuses a slot that holds something else', () => {
    ;(globalThis as Record<symbol, unknown>)[key] = { not: 'a registry' }
    try {
      expect(() => getGlobalRegistry()).toThrow(TypeError)
    } finally {
      delete (globalThis as Record<symbol, unknown>)[key]
    }
  })
})
