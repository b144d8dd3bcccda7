// Fleets: getToken() on a provider whose token came from Redis, against one whose token came from
// an in-memory store, in interleaved rounds. A provider keeps its token locally, so neither reaches
// the store on a call; a raw `store.get()` from Redis per call shows what that saves. Starts its own
// redis-server on 127.0.0.1 (skipped, with a note, where there is none).
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { distEntry, emit, log, median, row } from './lib/harness.mjs'
import { interleave, perCall } from './lib/interleave.mjs'
import { mint } from './lib/jwt.mjs'

if (spawnSync('redis-server', ['--version']).status !== 0) {
  log('fleet: no redis-server on this machine, skipped')
  emit([])
  process.exit(0)
}

const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address()
    probe.close(() => resolve(free))
  })
})
const server = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()],
  {
    stdio: ['ignore', 'pipe', 'ignore'],
  },
)
await new Promise((resolve, reject) => {
  let output = ''
  server.stdout.on('data', (chunk) => {
    output += chunk
    if (output.includes('Ready to accept connections')) resolve()
  })
  server.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)))
})

try {
  const { createMemoryStore, createTokenProvider } = await import(distEntry)
  const { createRedisStore } = await import(`${distEntry.slice(0, -'index.mjs'.length)}redis.mjs`)
  const { default: Redis } = await import('ioredis')
  const redis = new Redis({ host: '127.0.0.1', port })
  const redisStore = createRedisStore({ redis })
  const memoryStore = createMemoryStore()
  const token = { accessToken: await mint(), expiresAt: Date.now() + 3_600_000, issuedAt: Date.now() }
  await redisStore.set('bench', token)
  await memoryStore.set('bench', token)
  const never = async () => {
    throw new Error('the token is in the store: no fetch expected')
  }
  const fromRedis = createTokenProvider({ name: 'redis', store: redisStore, storeKey: 'bench', fetchToken: never })
  const fromMemory = createTokenProvider({ name: 'memory', store: memoryStore, storeKey: 'bench', fetchToken: never })
  // The first call of each reads its store; from then on the local copy serves.
  if ((await fromRedis.getToken()) !== token.accessToken || (await fromMemory.getToken()) !== token.accessToken) {
    throw new Error('the providers did not take the stored token')
  }

  const variants = [
    { name: 'memory', calls: 50_000, run: () => fromMemory.getToken(), samples: [] },
    { name: 'redis', calls: 50_000, run: () => fromRedis.getToken(), samples: [] },
    { name: 'raw', calls: 2_000, run: () => redisStore.get('bench'), samples: [] },
  ]
  await interleave(variants, { rounds: 20, measure: (variant) => perCall(variant.run, variant.calls) })
  const [memory, viaRedis, raw] = variants.map((variant) => median(variant.samples))
  log(
    `fleet: getToken ${memory.toFixed(0)} ns (memory store), ${viaRedis.toFixed(0)} ns (Redis store), store.get ${raw.toFixed(0)} ns`,
  )
  fromRedis.dispose()
  fromMemory.dispose()
  redisStore.dispose()
  redis.disconnect()
  emit([
    row('fleet: getToken() with the token from an in-memory store', memory, 'ns/call', memory),
    row(
      'fleet: getToken() with the token from Redis (vs memory store)',
      viaRedis,
      'ns/call',
      memory,
      'fleet.get-token',
    ),
    row('fleet: a Redis store.get() per call, for contrast (vs memory store)', raw, 'ns/call', memory),
  ])
} finally {
  server.kill('SIGKILL')
}
