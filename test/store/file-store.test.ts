import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTokenProvider } from '../../src/index.js'
import { createFileStore, type FileTokenStore, fileStoreDefaults } from '../../src/node.js'
import { record } from '../helpers/record.js'

const hour = 3_600_000
let dir: string
let stores: FileTokenStore[] = []
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function storeAt(path: string, options: Omit<Parameters<typeof createFileStore>[0], 'path'> = {}): FileTokenStore {
  const store = createFileStore({ path, ...options })
  stores.push(store)
  return store
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'refreshing-client-file-store-'))
  stores = []
})

afterEach(() => {
  for (const store of stores) store.dispose()
  rmSync(dir, { recursive: true, force: true })
})

describe('createFileStore', () => {
  it('creates one file (0600) in a new directory (0700), and keeps the newest token per key', async () => {
    const path = join(dir, 'nested', 'state', 'tokens.json')
    const store = storeAt(path)
    const now = Date.now()
    expect(await store.get('a')).toBeUndefined()
    await store.set('a', { accessToken: 'a2', expiresAt: now + 2 * hour, issuedAt: now })
    await store.set('a', { accessToken: 'a1', expiresAt: now + hour, issuedAt: now })
    await store.set('a', { accessToken: 'a-tie', expiresAt: now + 2 * hour, issuedAt: now })
    await store.set('b', { accessToken: 'b1', expiresAt: now + hour })
    expect(await store.get('a')).toEqual({ accessToken: 'a2', expiresAt: now + 2 * hour, issuedAt: now })
    expect(await store.get('b')).toEqual({ accessToken: 'b1', expiresAt: now + hour })
    await store.set('a', { accessToken: 'a3', expiresAt: now + 2 * hour, issuedAt: now + 1 })
    expect((await storeAt(path).get('a'))?.accessToken).toBe('a3')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'nested', 'state')).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'nested')).mode & 0o777).toBe(0o700)
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')).tokens)).toEqual(['a', 'b'])
  })

  it('keeps a record with a refresh token past its access token, and drops one without', async () => {
    const path = join(dir, 'tokens.json')
    const store = storeAt(path)
    const soon = Date.now() + 300
    await store.set('with', { accessToken: 'x', expiresAt: soon, refreshToken: 'latest-refresh-token' })
    await store.set('without', { accessToken: 'y', expiresAt: soon })
    await store.set('expired', { accessToken: 'z', expiresAt: Date.now() - 1 })
    await sleep(400)
    expect(await store.get('with')).toEqual({ accessToken: 'x', expiresAt: soon, refreshToken: 'latest-refresh-token' })
    expect(await store.get('without')).toBeUndefined()
    expect(await store.get('expired')).toBeUndefined()
    // The next write drops the expired record without a refresh token.
    await store.set('other', { accessToken: 'o', expiresAt: Date.now() + hour })
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')).tokens).sort()).toEqual(['other', 'with'])
  })

  it('refuses a path that is a directory or a symbolic link, and never writes through a link made later', async () => {
    const target = join(dir, 'another-programs-file.json')
    writeFileSync(target, 'theirs')
    symlinkSync(target, join(dir, 'link.json'))
    expect(() => createFileStore({ path: dir })).toThrow(
      new TypeError(`path ${dir} is a directory; give the path of a file`),
    )
    expect(() => createFileStore({ path: join(dir, 'link.json') })).toThrow(/is a symbolic link/)
    const later = join(dir, 'later.json')
    const store = storeAt(later)
    symlinkSync(target, later)
    await expect(store.set('a', { accessToken: 'x', expiresAt: Date.now() + hour })).rejects.toMatchObject({
      code: 'ERR_STORE',
      message: `file token store: ${later} is a symbolic link; the store keeps its tokens in a file of its own`,
    })
    expect(readFileSync(target, 'utf8')).toBe('theirs')
  })

  it('validates its options', () => {
    expect(() => createFileStore({ path: '' })).toThrow(new TypeError('path must be a non-empty string'))
    expect(() => createFileStore({ path: join(dir, 'a'), lockStaleMs: 0 })).toThrow(RangeError)
    expect(() => createFileStore({ path: join(dir, 'a'), pollMs: Number.NaN })).toThrow(/pollMs/)
    expect(() => createFileStore({ path: join(dir, 'a'), encryptionKey: new Uint8Array(10) })).toThrow(RangeError)
    expect(fileStoreDefaults).toEqual({ lockStaleMs: 10_000, pollMs: 250, lockWaitMs: 1_500 })
  })

  it('reports a garbage file as unreadable without touching it, and the next set replaces it', async () => {
    const path = join(dir, 'tokens.json')
    writeFileSync(path, '{"not": "ours"', { mode: 0o600 })
    const store = storeAt(path)
    await expect(store.get('a')).rejects.toMatchObject({
      code: 'ERR_STORE_UNREADABLE',
      message: `file token store: ${path} is not JSON; the next token stored replaces it`,
    })
    expect(readFileSync(path, 'utf8')).toBe('{"not": "ours"')
    await store.set('a', { accessToken: 'x', expiresAt: Date.now() + hour })
    expect((await store.get('a'))?.accessToken).toBe('x')
  })

  it('encrypts with the store key bound, so the file holds no token and a moved entry does not decrypt', async () => {
    const path = join(dir, 'tokens.json')
    const key = crypto.getRandomValues(new Uint8Array(32))
    const store = storeAt(path, { encryptionKey: key })
    const token = { accessToken: 'SECRET-access', refreshToken: 'SECRET-refresh', expiresAt: Date.now() + hour }
    await store.set('a', token)
    expect(await store.get('a')).toEqual(token)
    const text = readFileSync(path, 'utf8')
    expect(text).not.toMatch(/SECRET/)
    const lease = await store.acquire('a', 1_000)
    const error = await storeAt(path)
      .get('a')
      .catch((e: unknown) => e)
    for (const value of [store, lease, error]) {
      const views = [
        inspect(value, { showHidden: true, depth: Number.POSITIVE_INFINITY }),
        String(value),
        JSON.stringify(value) ?? '',
      ]
      for (const view of views) expect(view).not.toMatch(/SECRET/)
    }
    expect(String(store)).toBe('[object FileTokenStore]')
    await lease?.release()
    const document = JSON.parse(text)
    document.tokens.b = document.tokens.a
    writeFileSync(path, JSON.stringify(document))
    await expect(store.get('b')).rejects.toMatchObject({ code: 'ERR_STORE_UNREADABLE' })
    // Another key cannot read it, and its set replaces what it cannot read, even a later token.
    const other = storeAt(path, { encryptionKey: crypto.getRandomValues(new Uint8Array(32)) })
    await expect(other.get('a')).rejects.toMatchObject({
      code: 'ERR_STORE_UNREADABLE',
      message:
        'file token store: the token of "a" is unreadable: the stored token could not be decrypted (another encryption key, another store key, or edited)',
    })
    await other.set('a', { accessToken: 'mine', expiresAt: Date.now() + 60_000 })
    expect((await other.get('a'))?.accessToken).toBe('mine')
  })

  it('gives a lease to one holder for ttlMs, then to exactly one of many waiters, and frees it only by its owner', async () => {
    const path = join(dir, 'tokens.json')
    const [a, b] = [storeAt(path), storeAt(path)] as [FileTokenStore, FileTokenStore]
    const first = await a.acquire('k', 300)
    expect(first).toBeDefined()
    expect(await b.acquire('k', 300)).toBeUndefined()
    expect(await b.acquire('other', 300)).toBeDefined()
    await sleep(350)
    const contenders = Array.from({ length: 12 }, () => storeAt(path))
    const taken = await Promise.all(contenders.map((store) => store.acquire('k', 5_000)))
    expect(taken.filter((lease) => lease !== undefined)).toHaveLength(1)
    // The expired holder's release leaves the new holder's lease alone.
    await first?.release()
    expect(await b.acquire('k', 5_000)).toBeUndefined()
    await taken.find((lease) => lease !== undefined)?.release()
    expect(await b.acquire('k', 5_000)).toBeDefined()
  })

  it('breaks a write lock left by a dead process at once, and a hung one after lockStaleMs', async () => {
    const path = join(dir, 'tokens.json')
    const lock = `${path}.lock`
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']))
    const owner = (pid: number, at: number) => JSON.stringify({ id: 'other', pid, host: hostname(), at })
    writeFileSync(lock, owner(dead, Date.now()))
    // Not by its age: lockStaleMs is far beyond what a call waits.
    const patient = storeAt(path, { lockStaleMs: 60_000 })
    await patient.set('a', { accessToken: 'x', expiresAt: Date.now() + hour })
    expect((await patient.get('a'))?.accessToken).toBe('x')
    const store = storeAt(path, { lockStaleMs: 1_000 })
    // A live holder (this process) that has held it for longer than lockStaleMs.
    writeFileSync(lock, owner(process.pid, Date.now() - 1_100))
    expect(await store.acquire('k', 1_000)).toBeDefined()
    // A live holder within lockStaleMs is waited for, up to lockWaitMs, then the call fails.
    writeFileSync(lock, owner(process.pid, Date.now() + 60_000))
    await expect(store.set('a', { accessToken: 'y', expiresAt: Date.now() + 2 * hour })).rejects.toMatchObject({
      code: 'ERR_STORE',
      message: `file token store: the write lock ${lock} is held by another process (waited 1500 ms)`,
    })
    expect(readFileSync(lock, 'utf8')).toBe(owner(process.pid, JSON.parse(readFileSync(lock, 'utf8')).at))
    rmSync(lock)
  })

  it("wakes watchers when the key's token changes in another instance, not for leases, also from before its directory existed", async () => {
    const path = join(dir, 'not-yet', 'tokens.json')
    const watcher = storeAt(path, { pollMs: 50 })
    const writer = storeAt(path)
    const calls: string[] = []
    const stop = watcher.watch('a', () => calls.push('a'))
    watcher.watch('b', () => calls.push('b'))
    await sleep(100)
    // The directory did not exist when watching began: polling serves until fs.watch can attach.
    await writer.set('a', { accessToken: 'x', expiresAt: Date.now() + hour })
    await sleep(200)
    expect(calls).toEqual(['a'])
    await writer.acquire('a', 1_000)
    await sleep(200)
    expect(calls).toEqual(['a'])
    stop()
    await writer.set('a', { accessToken: 'y', expiresAt: Date.now() + 2 * hour })
    await writer.set('b', { accessToken: 'y', expiresAt: Date.now() + 2 * hour })
    await sleep(200)
    expect(calls).toEqual(['a', 'b'])
    watcher.dispose()
    await writer.set('b', { accessToken: 'z', expiresAt: Date.now() + 3 * hour })
    await sleep(200)
    expect(calls).toEqual(['a', 'b'])
    await expect(watcher.get('a')).rejects.toMatchObject({ code: 'ERR_DISPOSED' })
  })

  it('makes the provider report an unreadable file (store: true) and refresh under the lease, replacing it', async () => {
    const path = join(dir, 'tokens.json')
    writeFileSync(path, 'garbage', { mode: 0o600 })
    const store = storeAt(path)
    let grants = 0
    const tokens = createTokenProvider({
      name: 'cli',
      store,
      fetchToken: async () => ({ accessToken: `t${++grants}`, expiresIn: 3_600, refreshToken: `r${grants}` }),
    })
    const errors = record(tokens, 'error')
    expect(await tokens.getToken()).toBe('t1')
    tokens.dispose()
    expect(grants).toBe(1)
    // Reported once, never a crash: taking the lease wrote a store file over the garbage.
    expect(errors.map((event) => [event.store, (event.error as { code?: string }).code])).toEqual([
      [true, 'ERR_STORE_UNREADABLE'],
    ])
    expect((await store.get('cli'))?.accessToken).toBe('t1')
  })
})
