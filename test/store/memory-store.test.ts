import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../../src/index.js'

describe('createMemoryStore', () => {
  it('keeps the newest token per key until it expires, and never a stale one over a newer', async () => {
    let now = 1_000
    const store = createMemoryStore({ now: () => now })
    await store.set('a', { accessToken: 'a2', expiresAt: 5_000, issuedAt: 1_000 })
    await store.set('a', { accessToken: 'a1', expiresAt: 4_000, issuedAt: 500 })
    await store.set('b', { accessToken: 'b1', expiresAt: 3_000 })
    await store.set('c', { accessToken: 'expired', expiresAt: 1_000 })
    expect(await store.get('a')).toEqual({ accessToken: 'a2', expiresAt: 5_000, issuedAt: 1_000 })
    expect(await store.get('b')).toEqual({ accessToken: 'b1', expiresAt: 3_000 })
    expect(await store.get('c')).toBeUndefined()
    await store.set('a', { accessToken: 'a3', expiresAt: 5_000, issuedAt: 2_000 })
    expect((await store.get('a'))?.accessToken).toBe('a3')
    now = 3_000
    expect(await store.get('b')).toBeUndefined()
    now = 5_000
    expect(await store.get('a')).toBeUndefined()
  })

  it('gives the lease to one holder until it is released or its time runs out', async () => {
    let now = 0
    const store = createMemoryStore({ now: () => now })
    const first = await store.acquire('a', 5_000)
    expect(first).toBeDefined()
    expect(await store.acquire('a', 5_000)).toBeUndefined()
    expect(await store.acquire('b', 5_000)).toBeDefined()
    await first?.release()
    const second = await store.acquire('a', 5_000)
    expect(second).toBeDefined()
    now = 5_000
    const third = await store.acquire('a', 5_000)
    expect(third).toBeDefined()
    // The expired holder's release must not free the new holder's lease.
    await second?.release()
    expect(await store.acquire('a', 5_000)).toBeUndefined()
  })

  it('tells watchers of the key when a token is stored, until they stop', async () => {
    const store = createMemoryStore()
    const seen: string[] = []
    const stop = store.watch?.('a', () => seen.push('a')) as () => void
    store.watch?.('b', () => seen.push('b'))
    await store.set('a', { accessToken: 'x' })
    await store.set('a', { accessToken: 'y', expiresAt: Date.now() + 60_000 })
    stop()
    await store.set('a', { accessToken: 'z', expiresAt: Date.now() + 120_000 })
    expect(seen).toEqual(['a', 'a'])
  })
})
