// One host: getToken() on a provider whose token came from the file store, against one whose token
// came from an in-memory store, in interleaved rounds (the local copy serves both, so neither reads
// its store on a call); a raw file `store.get()` per call for contrast; and what a refresh costs in
// store operations (read, lease, read, compare-and-set, release: each write takes the lock, reads,
// writes a temporary file, fsyncs and renames), plain and encrypted, against the memory store.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { distEntry, emit, log, median, row } from './lib/harness.mjs'
import { interleave, perCall } from './lib/interleave.mjs'
import { mint } from './lib/jwt.mjs'

const { createMemoryStore, createTokenProvider } = await import(distEntry)
const { createFileStore } = await import(`${distEntry.slice(0, -'index.mjs'.length)}node.mjs`)
const dir = mkdtempSync(join(tmpdir(), 'refreshing-client-bench-'))
try {
  const fileStore = createFileStore({ path: join(dir, 'tokens.json') })
  const sealedStore = createFileStore({
    path: join(dir, 'sealed.json'),
    encryptionKey: crypto.getRandomValues(new Uint8Array(32)),
  })
  const memoryStore = createMemoryStore()
  const token = { accessToken: await mint(), expiresAt: Date.now() + 3_600_000, issuedAt: Date.now() }
  await fileStore.set('bench', token)
  await memoryStore.set('bench', token)
  const never = async () => {
    throw new Error('the token is in the store: no fetch expected')
  }
  const fromFile = createTokenProvider({ name: 'file', store: fileStore, storeKey: 'bench', fetchToken: never })
  const fromMemory = createTokenProvider({ name: 'memory', store: memoryStore, storeKey: 'bench', fetchToken: never })
  if ((await fromFile.getToken()) !== token.accessToken || (await fromMemory.getToken()) !== token.accessToken) {
    throw new Error('the providers did not take the stored token')
  }
  const calls = [
    { name: 'memory', calls: 50_000, run: () => fromMemory.getToken(), samples: [] },
    { name: 'file', calls: 50_000, run: () => fromFile.getToken(), samples: [] },
    { name: 'raw', calls: 500, run: () => fileStore.get('bench'), samples: [] },
  ]
  await interleave(calls, { rounds: 20, measure: (variant) => perCall(variant.run, variant.calls) })
  const [memory, viaFile, raw] = calls.map((variant) => median(variant.samples))
  fromFile.dispose()
  fromMemory.dispose()

  // The store operations of one refresh through the store, as the provider runs them.
  let serial = 0
  const refreshVia = (store) => async () => {
    await store.get('refresh')
    const lease = await store.acquire('refresh', 5_000)
    await store.get('refresh')
    serial++
    await store.set('refresh', { accessToken: `t${serial}`, expiresAt: Date.now() + 3_600_000 + serial })
    await lease.release()
  }
  const refreshes = [
    { name: 'memory', calls: 200, run: refreshVia(memoryStore), samples: [] },
    { name: 'file', calls: 20, run: refreshVia(fileStore), samples: [] },
    { name: 'sealed', calls: 20, run: refreshVia(sealedStore), samples: [] },
  ]
  await interleave(refreshes, { rounds: 15, measure: (variant) => perCall(variant.run, variant.calls) })
  const [memoryRefresh, fileRefresh, sealedRefresh] = refreshes.map((variant) => median(variant.samples) / 1_000)
  fileStore.dispose()
  sealedStore.dispose()
  log(
    `file store: getToken ${memory.toFixed(0)} ns (memory store), ${viaFile.toFixed(0)} ns (file store), store.get ${raw.toFixed(0)} ns; ` +
      `a refresh's store operations ${memoryRefresh.toFixed(1)} µs (memory), ${fileRefresh.toFixed(0)} µs (file), ${sealedRefresh.toFixed(0)} µs (file, encrypted)`,
  )
  emit([
    row('file store: getToken() with the token from an in-memory store', memory, 'ns/call', memory),
    row(
      'file store: getToken() with the token from the file store (vs memory store)',
      viaFile,
      'ns/call',
      memory,
      'file.get-token',
    ),
    row('file store: a file store.get() per call, for contrast (vs memory store)', raw, 'ns/call', memory),
    row("file store: a refresh's store operations, memory store", memoryRefresh, 'µs/refresh', memoryRefresh),
    row(
      "file store: a refresh's store operations, file store (vs memory store)",
      fileRefresh,
      'µs/refresh',
      memoryRefresh,
    ),
    row(
      "file store: a refresh's store operations, file store with encryptionKey (vs memory store)",
      sealedRefresh,
      'µs/refresh',
      memoryRefresh,
    ),
  ])
} finally {
  rmSync(dir, { recursive: true, force: true })
}
