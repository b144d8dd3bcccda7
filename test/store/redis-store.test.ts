import { inspect } from 'node:util'
import Redis, { type RedisOptions } from 'ioredis'
import RedisV6 from 'ioredis-v6'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { type AuthError, isAuthError, type TokenSet } from '../../src/index.js'
import { createRedisStore, type RedisStoreOptions, type RedisTokenStore, redisStoreDefaults } from '../../src/redis.js'
import { fixture, run } from '../helpers/processes.js'
import { type RedisServer, startRedisServer, startSilentServer } from '../helpers/redis-server.js'

let server: RedisServer

beforeAll(async () => {
  server = await startRedisServer()
})

afterAll(() => server.stop())

const tokenKey = (key: string, prefix: string = redisStoreDefaults.prefix) => `${prefix}token:${key}`
const leaseKey = (key: string, prefix: string = redisStoreDefaults.prefix) => `${prefix}lease:${key}`

/** A deterministic shuffle (a linear congruential generator), so that a failure can be replayed. */
function shuffle<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items]
  let state = seed
  for (let i = copy.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    const j = state % (i + 1)
    ;[copy[i], copy[j]] = [copy[j] as T, copy[i] as T]
  }
  return copy
}

// The same store, through each supported major of ioredis.
const clients = [
  ['ioredis 5', Redis],
  ['ioredis 6', RedisV6 as unknown as typeof Redis],
] as const

describe.each(clients)('createRedisStore through %s', (_, Client) => {
  let admin: Redis
  let open: Redis[] = []
  let stores: RedisTokenStore[] = []

  function connect(options: RedisOptions = {}): Redis {
    const client = new Client({ port: server.port, host: '127.0.0.1', ...options })
    // ioredis prints connection errors that nobody listens to; the tests look at them through the store.
    client.on('error', () => {})
    open.push(client)
    return client
  }

  function storeOf(options: Partial<RedisStoreOptions> = {}): RedisTokenStore {
    const store = createRedisStore({ redis: connect(), ...options })
    stores.push(store)
    return store
  }

  async function subscribers(channel: string): Promise<number> {
    const reply = (await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number]
    return Number(reply[1])
  }

  async function connections(): Promise<number> {
    return ((await admin.call('CLIENT', 'LIST')) as string).trim().split('\n').length
  }

  beforeAll(() => {
    admin = new Client({ port: server.port, host: '127.0.0.1' })
    admin.on('error', () => {})
  })

  afterAll(() => admin.disconnect())

  beforeEach(async () => {
    if (!server.running) await server.start()
    await vi.waitFor(() => expect(admin.status).toBe('ready'), { timeout: 10_000 })
    await admin.flushall()
  })

  afterEach(async () => {
    for (const store of stores) store.dispose()
    for (const client of open) client.disconnect()
    stores = []
    open = []
    // The server notices closed connections a little later: wait, so that no test sees another's subscribers.
    if (server.running) await vi.waitFor(async () => expect(await connections()).toBe(1))
  })

  describe('set and get', () => {
    it('stores a plain JSON envelope by default, with the times the server compares in the clear', async () => {
      const store = storeOf()
      const token: TokenSet = {
        accessToken: 'access-1',
        expiresAt: Date.now() + 60_000,
        issuedAt: Date.now(),
        refreshToken: 'refresh-1',
        tokenType: 'Bearer',
        scope: 'read write',
        issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      }
      await store.set('a', { ...token, extra: 'dropped' } as TokenSet)
      expect(await store.get('a')).toEqual(token)
      expect(JSON.parse((await admin.get(tokenKey('a'))) as string)).toEqual({
        v: 1,
        e: token.expiresAt,
        i: token.issuedAt,
        t: token,
      })
      expect(await store.get('b')).toBeUndefined()
    })

    it('keeps the newer token by the compare-and-set rule, and publishes only what it stores', async () => {
      const store = storeOf()
      const watcher = storeOf()
      let published = 0
      watcher.watch('a', () => published++)
      await vi.waitFor(async () => expect(await subscribers(tokenKey('a'))).toBe(1))
      const at = Date.now() + 60_000
      const steps: Array<[TokenSet, string]> = [
        [{ accessToken: 't1', expiresAt: at, issuedAt: 100 }, 't1'], // nothing stored yet
        [{ accessToken: 't0', expiresAt: at - 1 }, 't1'], // expires earlier
        [{ accessToken: 't2', expiresAt: at, issuedAt: 100 }, 't1'], // same expiry, same issue time
        [{ accessToken: 't3', expiresAt: at }, 't1'], // same expiry, no issue time
        [{ accessToken: 't4', expiresAt: at, issuedAt: 99 }, 't1'], // same expiry, issued earlier
        [{ accessToken: 't5', expiresAt: at, issuedAt: 101 }, 't5'], // same expiry, issued later
        [{ accessToken: 't6', expiresAt: at + 1 }, 't6'], // expires later
        [{ accessToken: 't7' }, 't7'], // unknown expiry: different, so newer
        [{ accessToken: 't8', expiresAt: at - 10 }, 't8'], // over an unknown expiry
        [{ accessToken: 'expired', expiresAt: Date.now() - 1 }, 't8'], // an expired token is never stored
      ]
      const kept: string[] = []
      for (const [token] of steps) {
        await store.set('a', token)
        kept.push((await store.get('a'))?.accessToken as string)
      }
      expect(kept).toEqual(steps.map(([, expected]) => expected))
      await vi.waitFor(() => expect(published).toBe(5))
    })

    it('never lets an older token replace a newer one, whatever the order of concurrent writers', async () => {
      const writers = Array.from({ length: 4 }, () => storeOf())
      const base = Date.now() + 600_000
      const tokens: TokenSet[] = []
      for (let e = 0; e < 25; e++) {
        for (let i = 0; i < 4; i++) {
          tokens.push({ accessToken: `t-${e}-${i}`, expiresAt: base + e * 1_000, issuedAt: base - 3_600_000 + i })
        }
      }
      const newest = tokens.at(-1) as TokenSet
      for (let round = 1; round <= 5; round++) {
        await admin.flushall()
        const order = shuffle(tokens, round)
        await Promise.all(order.map((token, n) => writers[n % writers.length]?.set('a', token)))
        expect(await writers[round % writers.length]?.get('a')).toEqual(newest)
      }
    })

    it('keeps a token in Redis for its remaining lifetime, and one of unknown expiry for unknownExpiryTtlMs', async () => {
      const now = Date.now()
      const store = storeOf({ now: () => now })
      await store.set('a', { accessToken: 'x', expiresAt: now + 60_000 })
      const pttl = await admin.pttl(tokenKey('a'))
      expect(pttl).toBeGreaterThan(59_900)
      expect(pttl).toBeLessThanOrEqual(60_000)
      await store.set('a', { accessToken: 'y', expiresAt: now + 120_000 })
      expect(await admin.pttl(tokenKey('a'))).toBeGreaterThan(119_900)

      await store.set('b', { accessToken: 'x' })
      const unknown = await admin.pttl(tokenKey('b'))
      expect(unknown).toBeGreaterThan(redisStoreDefaults.unknownExpiryTtlMs - 100)
      expect(unknown).toBeLessThanOrEqual(redisStoreDefaults.unknownExpiryTtlMs)
      expect(redisStoreDefaults.unknownExpiryTtlMs).toBe(3_600_000)

      const short = storeOf({ unknownExpiryTtlMs: 5_000 })
      await short.set('c', { accessToken: 'x' })
      expect(await admin.pttl(tokenKey('c'))).toBeGreaterThan(4_900)
      expect(await admin.pttl(tokenKey('c'))).toBeLessThanOrEqual(5_000)

      // A fraction of a millisecond left still stores the token, for a whole millisecond.
      await store.set('d', { accessToken: 'x', expiresAt: now + 0.5 })
      expect(await admin.exists(tokenKey('d'))).toBe(1)
      await store.set('e', { accessToken: 'x', expiresAt: now })
      expect(await admin.exists(tokenKey('e'))).toBe(0)
    })

    it('keeps a record with a refresh token past its access token (unknownExpiryTtlMs), and get returns it', async () => {
      let now = Date.now()
      const store = storeOf({ now: () => now, unknownExpiryTtlMs: 5_000 })
      const withRefresh = { accessToken: 'x', expiresAt: now + 1_000, refreshToken: 'refresh-2' }
      await store.set('a', withRefresh)
      const pttl = await admin.pttl(tokenKey('a'))
      expect(pttl).toBeGreaterThan(4_900)
      expect(pttl).toBeLessThanOrEqual(5_000)
      await store.set('b', { accessToken: 'y', expiresAt: now + 1_000 })
      expect(await admin.pttl(tokenKey('b'))).toBeLessThanOrEqual(1_000)
      now += 2_000
      expect(await store.get('a')).toEqual(withRefresh)
      expect(await store.get('b')).toBeUndefined()
      // A newer token replaces it as before.
      const next = { accessToken: 'z', expiresAt: now + 1_000, refreshToken: 'refresh-3' }
      await store.set('a', next)
      expect(await store.get('a')).toEqual(next)
    })

    it('does not return a token that has expired by its own clock, even before Redis drops it', async () => {
      let now = Date.now()
      const store = storeOf({ now: () => now })
      await store.set('a', { accessToken: 'x', expiresAt: now + 60_000 })
      now += 59_999
      expect((await store.get('a'))?.accessToken).toBe('x')
      now += 1
      expect(await store.get('a')).toBeUndefined()
      expect(await admin.exists(tokenKey('a'))).toBe(1)
    })

    it('keeps keys apart by prefix, and loads its scripts again after a SCRIPT FLUSH', async () => {
      const one = storeOf()
      const two = storeOf({ prefix: 'other:' })
      await one.set('a', { accessToken: 'one' })
      await two.set('a', { accessToken: 'two' })
      expect((await one.get('a'))?.accessToken).toBe('one')
      expect((await two.get('a'))?.accessToken).toBe('two')
      expect((await admin.keys('*')).sort()).toEqual([tokenKey('a', 'other:'), tokenKey('a')])
      await admin.script('FLUSH')
      await one.set('a', { accessToken: 'one-again' })
      expect((await one.get('a'))?.accessToken).toBe('one-again')
    })

    it("works under the client's keyPrefix, watch included", async () => {
      const store = createRedisStore({ redis: connect({ keyPrefix: 'app:' }) })
      stores.push(store)
      const seen: string[] = []
      store.watch('a', () => seen.push('a'))
      await vi.waitFor(async () => expect(await subscribers(tokenKey('a'))).toBe(1))
      await store.set('a', { accessToken: 'x' })
      expect(await admin.exists(`app:${tokenKey('a')}`)).toBe(1)
      expect((await store.get('a'))?.accessToken).toBe('x')
      await vi.waitFor(() => expect(seen).toEqual(['a']))
      const lease = await store.acquire('a', 5_000)
      expect(await admin.exists(`app:${leaseKey('a')}`)).toBe(1)
      await lease?.release()
      expect(await admin.exists(`app:${leaseKey('a')}`)).toBe(0)
    })
  })

  describe('leases', () => {
    it('gives the lease to one process at a time, across clients, for ttlMs', async () => {
      const [a, b] = [storeOf(), storeOf()] as const
      const first = await a.acquire('k', 5_000)
      expect(first).toBeDefined()
      expect(await b.acquire('k', 5_000)).toBeUndefined()
      expect(await a.acquire('k', 5_000)).toBeUndefined()
      expect(await b.acquire('other', 5_000)).toBeDefined()
      const pttl = await admin.pttl(leaseKey('k'))
      expect(pttl).toBeGreaterThan(4_900)
      expect(pttl).toBeLessThanOrEqual(5_000)
      await first?.release()
      expect(await admin.exists(leaseKey('k'))).toBe(0)
      expect(await b.acquire('k', 5_000)).toBeDefined()
    })

    it('lets exactly one of many concurrent contenders take it', async () => {
      const contenders = Array.from({ length: 5 }, () => storeOf())
      const leases = await Promise.all(
        Array.from({ length: 50 }, (_, n) => contenders[n % contenders.length]?.acquire('k', 5_000)),
      )
      expect(leases.filter((lease) => lease !== undefined)).toHaveLength(1)
    })

    it('is released only by its owner: an expired holder cannot free the next holder’s lease', async () => {
      const [a, b, c] = [storeOf(), storeOf(), storeOf()] as const
      const old = await a.acquire('k', 50)
      expect(old).toBeDefined()
      await vi.waitFor(async () => expect(await admin.exists(leaseKey('k'))).toBe(0))
      const current = await b.acquire('k', 5_000)
      expect(current).toBeDefined()
      const owner = await admin.get(leaseKey('k'))
      await old?.release()
      expect(await admin.get(leaseKey('k'))).toBe(owner)
      expect(await c.acquire('k', 5_000)).toBeUndefined()
      await current?.release()
      await current?.release()
      expect(await c.acquire('k', 5_000)).toBeDefined()
    })
  })

  describe('watch', () => {
    it('tells watchers of a key about every token stored by another client, until they stop', async () => {
      const watcher = storeOf()
      const writer = storeOf()
      const seen: string[] = []
      const stop = watcher.watch('a', () => seen.push('a'))
      const stopTwin = watcher.watch('a', () => seen.push('a twin'))
      watcher.watch('sentinel', () => seen.push('sentinel'))
      await vi.waitFor(async () => expect(await subscribers(tokenKey('sentinel'))).toBe(1))
      expect(await subscribers(tokenKey('a'))).toBe(1)
      const at = Date.now() + 60_000
      await writer.set('a', { accessToken: 'new', expiresAt: at })
      await vi.waitFor(() => expect(seen).toEqual(['a', 'a twin']))
      await writer.set('a', { accessToken: 'older', expiresAt: at - 1 })
      await writer.set('sentinel', { accessToken: 's1' })
      await vi.waitFor(() => expect(seen).toEqual(['a', 'a twin', 'sentinel']))

      stopTwin()
      stopTwin()
      expect(await subscribers(tokenKey('a'))).toBe(1)
      stop()
      await vi.waitFor(async () => expect(await subscribers(tokenKey('a'))).toBe(0))
      await writer.set('a', { accessToken: 'newest', expiresAt: at + 1 })
      await writer.set('sentinel', { accessToken: 's2' })
      await vi.waitFor(() => expect(seen).toEqual(['a', 'a twin', 'sentinel', 'sentinel']))

      // Watching again after the last watcher stopped subscribes again.
      watcher.watch('a', () => seen.push('a again'))
      await vi.waitFor(async () => expect(await subscribers(tokenKey('a'))).toBe(1))
      await writer.set('a', { accessToken: 'newest still', expiresAt: at + 2 })
      await vi.waitFor(() => expect(seen).toEqual(['a', 'a twin', 'sentinel', 'sentinel', 'a again']))
    })

    it('hears a token stored by another process', async () => {
      const watcher = storeOf()
      let calls = 0
      watcher.watch('fleet', () => calls++)
      await vi.waitFor(async () => expect(await subscribers(tokenKey('fleet'))).toBe(1))
      const expiresAt = Date.now() + 60_000
      const child = await run(
        process.execPath,
        ['--import', 'tsx', fixture('redis-set.mts'), String(server.port), 'fleet', String(expiresAt)],
        { timeoutMs: 15_000 },
      )
      expect(child.stdout).toBe('stored\n')
      await vi.waitFor(() => expect(calls).toBe(1))
      expect((await watcher.get('fleet'))?.accessToken).toMatch(/^from-process-\d+$/)
    })

    it('subscribes on a connection of its own, made on the first watch and closed by dispose', async () => {
      const redis = connect()
      await redis.ping()
      const store = createRedisStore({ redis })
      const writer = storeOf()
      await writer.get('x')
      const before = await connections()
      const seen: string[] = []
      store.watch('a', () => seen.push('a'))
      store.watch('b', () => seen.push('b'))
      await vi.waitFor(async () => expect(await subscribers(tokenKey('b'))).toBe(1))
      expect(await connections()).toBe(before + 1)
      store.dispose()
      store.dispose()
      await vi.waitFor(async () => expect(await connections()).toBe(before))
      expect(await subscribers(tokenKey('a'))).toBe(0)
      await writer.set('a', { accessToken: 'x' })
      // The caller's client is untouched.
      expect(redis.status).toBe('ready')
      expect(await redis.get(tokenKey('a'))).not.toBeNull()
      expect(seen).toEqual([])
    })

    it('reports a watcher that throws through onError, and still calls the others', async () => {
      const errors: AuthError[] = []
      const watcher = storeOf({ onError: (error) => errors.push(error) })
      const seen: string[] = []
      watcher.watch('a', () => {
        throw new Error('listener failed')
      })
      watcher.watch('a', () => seen.push('a'))
      await vi.waitFor(async () => expect(await subscribers(tokenKey('a'))).toBe(1))
      await storeOf().set('a', { accessToken: 'x' })
      await vi.waitFor(() => expect(seen).toEqual(['a']))
      expect(errors).toHaveLength(1)
      const [error] = errors as [AuthError]
      expect(error.code).toBe('ERR_STORE')
      expect(error.message).toBe(`Redis token store: a watcher of ${tokenKey('a')} threw`)
      expect((error.cause as Error).message).toBe('listener failed')
      // Without onError, a throwing watcher is ignored.
      const quiet = storeOf()
      quiet.watch('b', () => {
        throw new Error('ignored')
      })
      await vi.waitFor(async () => expect(await subscribers(tokenKey('b'))).toBe(1))
      await storeOf().set('b', { accessToken: 'x' })
    })

    it('reports a subscription that Redis refuses through onError', async () => {
      await admin.call('ACL', 'SETUSER', 'nosub', 'on', 'nopass', '~*', '&*', '+@all', '-subscribe', '-unsubscribe')
      const errors: AuthError[] = []
      const store = createRedisStore({
        redis: connect({ username: 'nosub', password: 'any' }),
        onError: (error) => errors.push(error),
      })
      stores.push(store)
      const stop = store.watch('a', () => {})
      await vi.waitFor(() => expect(errors).toHaveLength(1))
      stop()
      await vi.waitFor(() => expect(errors).toHaveLength(2))
      expect(errors.map((error) => [error.code, error.message, (error.cause as Error).message.split(' ')[0]])).toEqual([
        ['ERR_STORE', `Redis token store: could not subscribe to ${tokenKey('a')}`, 'NOPERM'],
        ['ERR_STORE', `Redis token store: could not unsubscribe from ${tokenKey('a')}`, 'NOPERM'],
      ])
      await admin.call('ACL', 'DELUSER', 'nosub')
    })
  })

  describe('encryption', () => {
    const token: TokenSet = {
      accessToken: 'SECRET-access',
      refreshToken: 'SECRET-refresh',
      expiresAt: Date.now() + 600_000,
      issuedAt: Date.now(),
      tokenType: 'Bearer',
      scope: 'read',
    }
    const rawKey = (bytes: number) => globalThis.crypto.getRandomValues(new Uint8Array(bytes))

    it('round-trips with 128, 192 and 256-bit raw keys and a CryptoKey, with nothing of the token in Redis', async () => {
      const cryptoKey = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
        'encrypt',
        'decrypt',
      ])
      for (const encryptionKey of [rawKey(16), rawKey(24), rawKey(32), cryptoKey]) {
        await admin.flushall()
        const store = storeOf({ encryptionKey })
        await store.set('a', token)
        expect(await store.get('a')).toEqual(token)
        const raw = (await admin.get(tokenKey('a'))) as string
        expect(raw).not.toContain('SECRET')
        const envelope = JSON.parse(raw)
        expect(Object.keys(envelope).sort()).toEqual(['c', 'e', 'i', 'v'])
        expect([envelope.v, envelope.e, envelope.i]).toEqual([1, token.expiresAt, token.issuedAt])
        // IV (12 bytes), then the ciphertext as long as the JSON of the token, then the tag (16 bytes).
        expect(Buffer.from(envelope.c, 'base64').length).toBe(12 + JSON.stringify(token).length + 16)
      }
    })

    it('uses a new IV for each write, and still compares on the server', async () => {
      const store = storeOf({ encryptionKey: rawKey(32) })
      await store.set('a', token)
      await store.set('b', token)
      const [a, b] = await Promise.all([admin.get(tokenKey('a')), admin.get(tokenKey('b'))])
      expect(JSON.parse(a as string).c.slice(0, 16)).not.toBe(JSON.parse(b as string).c.slice(0, 16))
      await store.set('a', { ...token, accessToken: 'older', expiresAt: (token.expiresAt as number) - 1 })
      expect(await store.get('a')).toEqual(token)
      await store.set('a', { ...token, accessToken: 'newer', expiresAt: (token.expiresAt as number) + 1 })
      expect((await store.get('a'))?.accessToken).toBe('newer')
    })

    it('refuses a ciphertext copied to another key or prefix, and removes it', async () => {
      const encryptionKey = rawKey(32)
      const store = storeOf({ encryptionKey })
      const otherPrefix = storeOf({ encryptionKey, prefix: 'other:' })
      await store.set('a', token)
      const raw = (await admin.get(tokenKey('a'))) as string
      await admin.set(tokenKey('b'), raw)
      await admin.set(tokenKey('a', 'other:'), raw)
      for (const [reader, key] of [
        [store, 'b'],
        [otherPrefix, 'a'],
      ] as const) {
        const error = await reader.get(key).catch((e: unknown) => e)
        expect(isAuthError(error, 'ERR_STORE_UNREADABLE')).toBe(true)
        expect((error as Error).message).toBe(
          `Redis token store: the stored token of "${key}" was unreadable and removed: ` +
            'the stored token could not be decrypted (another encryption key, another store key, or edited)',
        )
      }
      expect(await admin.exists(tokenKey('b'), tokenKey('a', 'other:'))).toBe(0)
      expect(await store.get('a')).toEqual(token)
    })

    it('refuses a token sealed with another key, or whose clear times were edited', async () => {
      const writer = storeOf({ encryptionKey: rawKey(32) })
      const reader = storeOf({ encryptionKey: rawKey(32) })
      await writer.set('a', token)
      await expect(reader.get('a')).rejects.toMatchObject({ code: 'ERR_STORE_UNREADABLE' })
      expect(await admin.exists(tokenKey('a'))).toBe(0)
      // With the unreadable token gone, the reader's own token is stored.
      await reader.set('a', token)
      expect(await reader.get('a')).toEqual(token)

      await writer.set('b', token)
      const envelope = JSON.parse((await admin.get(tokenKey('b'))) as string)
      await admin.set(tokenKey('b'), JSON.stringify({ ...envelope, e: envelope.e + 3_600_000 }))
      await expect(writer.get('b')).rejects.toMatchObject({ code: 'ERR_STORE_UNREADABLE' })
    })

    it('never mixes clear and encrypted tokens', async () => {
      const plain = storeOf()
      const sealed = storeOf({ encryptionKey: rawKey(16) })
      await plain.set('a', token)
      await sealed.set('b', token)
      await expect(sealed.get('a')).rejects.toMatchObject({
        code: 'ERR_STORE_UNREADABLE',
        message:
          'Redis token store: the stored token of "a" was unreadable and removed: the stored token is not encrypted',
      })
      await expect(plain.get('b')).rejects.toMatchObject({
        code: 'ERR_STORE_UNREADABLE',
        message:
          'Redis token store: the stored token of "b" was unreadable and removed: ' +
          'the stored token is encrypted, and no encryptionKey is set',
      })
    })

    it.each<[string, string]>([
      ['not json SECRET', 'the stored value is not JSON'],
      ['{"v":2}', 'the stored value is not a token envelope'],
      ['[1]', 'the stored value is not a token envelope'],
      ['{"v":1,"e":"soon"}', '"e" is not a finite number'],
      ['{"v":1,"t":"SECRET"}', 'the stored token is not an object'],
      ['{"v":1,"t":{"accessToken":""}}', 'the stored token has no "accessToken"'],
      ['{"v":1,"t":{"accessToken":"SECRET","expiresAt":"x"}}', '"expiresAt" is not a finite number'],
      ['{"v":1,"t":{"accessToken":"SECRET","scope":1}}', '"scope" is not a string'],
      ['{"v":1,"e":5,"t":{"accessToken":"SECRET"}}', 'the times of the stored token do not match its envelope'],
    ])('treats %s, which is not a token envelope, as unreadable and removes it', async (raw, reason) => {
      const store = storeOf()
      await admin.set(tokenKey('a'), raw)
      const error = await store.get('a').catch((e: unknown) => e)
      expect((error as AuthError).message).toBe(
        `Redis token store: the stored token of "a" was unreadable and removed: ${reason}`,
      )
      expect(await admin.exists(tokenKey('a'))).toBe(0)
    })

    it('removes an envelope that claims a far later expiry but cannot be decrypted, then takes a new token', async () => {
      const sealed = storeOf({ encryptionKey: rawKey(32) })
      await admin.set(tokenKey('b'), JSON.stringify({ v: 1, e: 9e15, c: 'AAAA' }))
      await expect(sealed.get('b')).rejects.toMatchObject({ code: 'ERR_STORE_UNREADABLE' })
      await sealed.set('b', token)
      expect(await sealed.get('b')).toEqual(token)
    })

    it('replaces garbage by the compare-and-set even without a read', async () => {
      const store = storeOf()
      await admin.set(tokenKey('c'), 'garbage')
      await store.set('c', token)
      expect(await store.get('c')).toEqual(token)
    })

    it.each<[string, string]>([
      ['["SECRET"]', 'the stored token is not an object'],
      ['{"accessToken":"SECRET","expiresAt":5}', 'the times of the stored token do not match its envelope'],
    ])('treats %s, encrypted with the right key and associated data, as unreadable', async (plaintext, reason) => {
      const key = rawKey(16)
      const cryptoKey = await globalThis.crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt'])
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
      const additionalData = new TextEncoder().encode(
        JSON.stringify(['refreshing-client/redis v1', tokenKey('d'), null, null]),
      )
      const sealedText = await globalThis.crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData },
        cryptoKey,
        new TextEncoder().encode(plaintext),
      )
      const c = Buffer.concat([iv, new Uint8Array(sealedText)]).toString('base64')
      await admin.set(tokenKey('d'), JSON.stringify({ v: 1, c }))
      await expect(storeOf({ encryptionKey: key }).get('d')).rejects.toMatchObject({
        message: `Redis token store: the stored token of "d" was unreadable and removed: ${reason}`,
      })
    })
  })

  describe('failures', () => {
    it('rejects at once while Redis is down, and works again once it is back', async () => {
      const redis = connect()
      const store = createRedisStore({ redis })
      stores.push(store)
      const expiresAt = Date.now() + 60_000
      await store.set('a', { accessToken: 'before', expiresAt })
      await server.stop()
      await vi.waitFor(() => expect(redis.status).toBe('reconnecting'))
      const started = performance.now()
      const results = await Promise.allSettled([
        store.get('a'),
        store.set('a', { accessToken: 'during', expiresAt: expiresAt + 1 }),
        store.acquire('a', 5_000),
      ])
      expect(performance.now() - started).toBeLessThan(100)
      for (const result of results) {
        expect(result.status).toBe('rejected')
        const error = (result as PromiseRejectedResult).reason as AuthError
        expect(error.code).toBe('ERR_STORE')
        expect(error.message).toMatch(
          /^Redis token store: could not .+: Redis is not connected \(status "reconnecting"\)$/,
        )
      }
      // Nothing waits in the client's queue to run after the outage.
      expect((redis as unknown as { offlineQueue: { length: number } }).offlineQueue.length).toBe(0)
      await server.start()
      await vi.waitFor(() => expect(redis.status).toBe('ready'), { timeout: 15_000 })
      // The server kept nothing (no persistence): the store works again from empty.
      expect(await store.get('a')).toBeUndefined()
      await store.set('a', { accessToken: 'after', expiresAt })
      expect((await store.get('a'))?.accessToken).toBe('after')
      expect(await store.acquire('a', 5_000)).toBeDefined()
    })

    it('rejects after timeoutMs when Redis does not answer, and gives back a lease it may still get', async () => {
      const silent = await startSilentServer()
      const redis = new Client({ port: silent.port, host: '127.0.0.1' })
      redis.on('error', () => {})
      open.push(redis)
      const store = createRedisStore({ redis, timeoutMs: 200 })
      stores.push(store)
      const started = performance.now()
      const results = await Promise.allSettled([store.get('a'), store.acquire('a', 5_000)])
      const elapsed = performance.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(195)
      expect(elapsed).toBeLessThan(1_000)
      expect(results.map((result) => ((result as PromiseRejectedResult).reason as AuthError).message)).toEqual([
        'Redis token store: could not read the token of "a": no answer from Redis within 200 ms',
        'Redis token store: could not take the lease of "a": no answer from Redis within 200 ms',
      ])
      // Behind the SET of the lease, its release waits in the same queue.
      const queue = (redis as unknown as { offlineQueue: { toArray(): Array<{ command: { name: string } }> } })
        .offlineQueue
      expect(queue.toArray().map((item) => item.command.name)).toEqual(['GET', 'SET', 'EVALSHA'])
      redis.disconnect()
      await silent.close()
    })

    it('reports a command that Redis refuses as ERR_STORE, without the arguments ioredis attaches', async () => {
      const store = storeOf()
      await admin.lpush(tokenKey('list'), 'x')
      for (const call of [() => store.set('list', { accessToken: 'SECRET-token' }), () => store.get('list')]) {
        const error = (await call().catch((e: unknown) => e)) as AuthError
        expect(error.code).toBe('ERR_STORE')
        expect(error.message).toMatch(/^Redis token store: could not (store|read) the token of "list": WRONGTYPE /)
        expect(Object.keys(error.cause as object)).toEqual(['name'])
        expect((error.cause as Error).name).toBe('ReplyError')
      }
    })

    it('never shows a token in an error, String(), JSON.stringify() or util.inspect()', async () => {
      const encryptionKey = globalThis.crypto.getRandomValues(new Uint8Array(32))
      const sealed = storeOf({ encryptionKey })
      const plain = storeOf()
      const token = { accessToken: 'SECRET-access', refreshToken: 'SECRET-refresh', expiresAt: Date.now() + 60_000 }
      await sealed.set('a', token)
      await plain.set('b', token)
      const lease = await sealed.acquire('a', 5_000)
      await admin.lpush(tokenKey('list'), 'x')
      const errors = [
        await plain.get('a').catch((e: unknown) => e), // encrypted, read without the key
        await storeOf({ encryptionKey: new Uint8Array(32) })
          .get('b')
          .catch((e: unknown) => e), // in the clear
        await plain.set('list', token).catch((e: unknown) => e), // WRONGTYPE, with the token in ioredis' error
        await sealed.set('list', token).catch((e: unknown) => e),
      ]
      expect(errors.map((error) => (error as AuthError).code)).toEqual([
        'ERR_STORE_UNREADABLE',
        'ERR_STORE_UNREADABLE',
        'ERR_STORE',
        'ERR_STORE',
      ])
      for (const value of [sealed, plain, lease, ...errors]) {
        const views = [
          inspect(value, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
          String(value),
          JSON.stringify(value) ?? '',
          value instanceof Error ? `${value.message} ${value.stack} ${inspect(value.cause, { showHidden: true })}` : '',
        ]
        for (const view of views) expect(view).not.toContain('SECRET')
      }
      expect(String(sealed)).toBe('[object RedisTokenStore]')
      expect(JSON.stringify(sealed)).toBe('{}')
    })

    it('rejects every call after dispose, and never closes the caller’s client', async () => {
      const redis = connect()
      const store = createRedisStore({ redis })
      await store.set('a', { accessToken: 'x' })
      const lease = await store.acquire('a', 5_000)
      {
        using scoped = store
        expect(scoped).toBe(store)
      }
      for (const call of [
        () => store.get('a'),
        () => store.set('a', { accessToken: 'y' }),
        () => store.acquire('b', 1_000),
        () => lease?.release() as Promise<void>,
      ]) {
        await expect(call()).rejects.toMatchObject({
          code: 'ERR_DISPOSED',
          message: 'the Redis token store has been disposed',
        })
      }
      expect(() => store.watch('a', () => {})).toThrow('the Redis token store has been disposed')
      expect(redis.status).toBe('ready')
      expect(await redis.get(tokenKey('a'))).not.toBeNull()
    })
  })
})

describe('createRedisStore options', () => {
  const redis = new Redis({ lazyConnect: true })

  afterAll(() => redis.disconnect())

  it.each<[unknown, string]>([
    [undefined, 'Redis store options must be an object'],
    [{}, 'redis must be an ioredis client'],
    [{ redis: { call: () => {} } }, 'redis must be an ioredis client'],
    [{ redis, prefix: 1 }, 'prefix must be a string'],
    [{ redis, now: 1 }, 'now must be a function'],
    [{ redis, onError: 'log' }, 'onError must be a function'],
    [{ redis, timeoutMs: 0 }, 'timeoutMs must be a positive, finite number of milliseconds'],
    [{ redis, timeoutMs: Number.NaN }, 'timeoutMs must be a positive, finite number of milliseconds'],
    [{ redis, unknownExpiryTtlMs: Number.POSITIVE_INFINITY }, 'unknownExpiryTtlMs must be a positive'],
  ])('validates its options when it is made: %#, $1', (options, message) => {
    expect(() => createRedisStore(options as RedisStoreOptions)).toThrow(message)
  })

  it('accepts only 128, 192 or 256-bit AES-GCM keys that can encrypt and decrypt', async () => {
    for (const bytes of [0, 8, 15, 17, 31, 33, 64]) {
      expect(() => createRedisStore({ redis, encryptionKey: new Uint8Array(bytes) })).toThrow(
        new RangeError(`encryptionKey must be 128, 192 or 256 bits (16, 24 or 32 bytes), got ${bytes} bytes`),
      )
    }
    for (const bytes of [16, 24, 32]) createRedisStore({ redis, encryptionKey: new Uint8Array(bytes) }).dispose()
    const subtle = globalThis.crypto.subtle
    const cbc = await subtle.generateKey({ name: 'AES-CBC', length: 256 }, false, ['encrypt', 'decrypt'])
    const hmac = await subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    const encryptOnly = await subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt'])
    const cases: Array<[unknown, Error]> = [
      ['a string key', new TypeError('encryptionKey must be a CryptoKey or a Uint8Array')],
      [new ArrayBuffer(32), new TypeError('encryptionKey must be a CryptoKey or a Uint8Array')],
      [cbc, new TypeError('encryptionKey must be an AES-GCM key, got secret AES-CBC')],
      [hmac, new TypeError('encryptionKey must be an AES-GCM key, got secret HMAC')],
      [encryptOnly, new TypeError('encryptionKey must allow both "encrypt" and "decrypt"')],
    ]
    for (const [encryptionKey, error] of cases) {
      expect(() => createRedisStore({ redis, encryptionKey: encryptionKey as Uint8Array })).toThrow(error)
    }
  })

  it('validates keys, tokens, lease times and listeners', async () => {
    const store = createRedisStore({ redis })
    await expect(store.get('')).rejects.toThrow(new TypeError('key must be a non-empty string'))
    await expect(store.get(1 as unknown as string)).rejects.toThrow(TypeError)
    await expect(store.set('a', { accessToken: '' })).rejects.toThrow(
      new TypeError('token must be a TokenSet with a non-empty accessToken'),
    )
    await expect(store.set('a', null as unknown as TokenSet)).rejects.toThrow(TypeError)
    await expect(store.set('a', { accessToken: 'x', issuedAt: Number.NaN })).rejects.toThrow(
      new TypeError('token.expiresAt and token.issuedAt must be finite numbers when present'),
    )
    for (const ttlMs of [
      0,
      -1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '5' as unknown as number,
      undefined as unknown as number,
    ]) {
      await expect(store.acquire('a', ttlMs)).rejects.toThrow(
        new RangeError('ttlMs must be a positive, finite number of milliseconds'),
      )
    }
    expect(() => store.watch('a', 'listener' as unknown as () => void)).toThrow(
      new TypeError('listener must be a function'),
    )
    expect(redis.status).toBe('wait')
    store.dispose()
  })
})
