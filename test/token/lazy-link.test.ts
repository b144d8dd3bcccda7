import { afterEach, expect, it, vi } from 'vitest'
import { record } from '../helpers/record.js'

// A provider with a store imports its store link lazily. A failed import (a chunk a bundler could
// not fetch) must be reported, never left unhandled, and forgotten, so that a later use loads it.

afterEach(() => {
  vi.doUnmock('../../src/token/store-link.js')
  vi.resetModules()
})

it('reports a failed load of the store link as a store error, and loads it again at the next use', async () => {
  vi.resetModules()
  let fail = true
  vi.doMock('../../src/token/store-link.js', async (original) => {
    if (fail) throw new Error('loading chunk store-link failed')
    return original()
  })
  const unhandled: unknown[] = []
  const onUnhandled = (error: unknown) => unhandled.push(error)
  process.on('unhandledRejection', onUnhandled)
  try {
    const { createTokenProvider } = await import('../../src/token/create.js')
    const { createMemoryStore } = await import('../../src/store/memory-store.js')
    const store = createMemoryStore()
    let fetched = 0
    const tokens = createTokenProvider({ name: 'a', store, fetchToken: async () => `token-${++fetched}` })
    const errors = record(tokens, 'error')
    // Another process stores a token (the watch fires), and a push is shared: both need the link.
    await store.set('a', { accessToken: 'other', expiresAt: Date.now() + 3_600_000 })
    tokens.setToken({ accessToken: 'pushed', expiresAt: Date.now() + 7_200_000 })
    await vi.waitFor(() => expect(errors.length).toBe(2))
    // (vitest wraps the thrown error in its own message about mocking)
    expect(errors.map((event) => [event.error instanceof Error, event.store, event.willRetry])).toEqual([
      [true, true, false],
      [true, true, false],
    ])
    fail = false
    expect((await tokens.refresh()).accessToken).toBe('token-1')
    expect(fetched).toBe(1)
    expect(unhandled).toEqual([])
    tokens.dispose()
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})
