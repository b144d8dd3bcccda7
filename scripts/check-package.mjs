// Checks the package as npm would publish it: the files in the tarball, then a real `require()`
// and `import()` of the packed build, each in a fresh Node process that calls into it.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

const [pack] = JSON.parse(execFileSync(npm, ['pack', '--json', '--dry-run'], { cwd: root, encoding: 'utf8' }))
const allowed = /^(dist\/.+|README\.md|CHANGELOG\.md|LICENSE|package\.json)$/
const unexpected = pack.files.map((file) => file.path).filter((path) => !allowed.test(path))
if (unexpected.length > 0) throw new Error(`unexpected files in the package: ${unexpected.join(', ')}`)
const entries = [
  'dist/index.mjs',
  'dist/index.js',
  'dist/node.mjs',
  'dist/node.js',
  'dist/node.d.ts',
  'dist/node.d.mts',
  'dist/redis.mjs',
  'dist/redis.js',
  'dist/redis.d.ts',
  'dist/redis.d.mts',
  'dist/otel.mjs',
  'dist/otel.js',
  'dist/otel.d.ts',
  'dist/otel.d.mts',
]
for (const required of ['README.md', 'CHANGELOG.md', 'LICENSE', 'package.json', ...entries]) {
  if (!pack.files.some((file) => file.path === required)) throw new Error(`${required} is missing from the package`)
}
console.log(`package contents: ${pack.files.length} files, ${pack.size} bytes packed`)

// Unpack into <root>/.smoke/node_modules so that ky, jose and mitt resolve from our node_modules.
const smoke = join(root, '.smoke')
rmSync(smoke, { recursive: true, force: true })
const target = join(smoke, 'node_modules', 'refreshing-client')
mkdirSync(target, { recursive: true })
const tarball = execFileSync(npm, ['pack', '--pack-destination', smoke, '--silent'], {
  cwd: root,
  encoding: 'utf8',
}).trim()
execFileSync('tar', ['-xzf', join(smoke, tarball), '-C', target, '--strip-components=1'])

const body = `
  const tokens = rc.createTokenProvider({ initialToken: 'opaque-token' })
  const seen = []
  const client = new rc.RefreshingClient({
    tokens,
    baseUrl: 'http://127.0.0.1:9/',
    fetch: async (input, init) => {
      const request = new Request(input, init)
      seen.push(request.headers.get('authorization'))
      return new Response(JSON.stringify({ ok: true }), { headers: { 'content-type': 'application/json' } })
    },
  })
  const viaFetch = await client.fetch('/a')
  const viaKy = await client.ky.get('b').json()
  const registry = rc.createRegistry()
  registry.scope('agent').dispose()
  const ok = viaFetch.status === 200 && viaKy.ok === true && seen.length === 2 &&
    seen.every((header) => header === 'Bearer opaque-token') && registry.size === 0 &&
    rc.isAuthError(new rc.DisposedError('x'), 'ERR_DISPOSED')
  client.dispose()
  if (!ok) throw new Error('smoke test failed: ' + JSON.stringify({ status: viaFetch.status, viaKy, seen }))
`
const script = body
const runs = {
  require: `const rc = require('refreshing-client'); (async () => { ${script} })().then(() => console.log('require() ok'), (e) => { console.error(e); process.exit(1) })`,
  import: `const rc = await import('refreshing-client'); ${script}; console.log('import() ok')`,
}
execFileSync(process.execPath, ['-e', runs.require], { cwd: smoke, stdio: 'inherit' })
execFileSync(process.execPath, ['--input-type=module', '-e', runs.import], { cwd: smoke, stdio: 'inherit' })

// The sources: a token file through the node entry, and a client credentials grant through ky (whose
// default export must survive the CJS build), against a fetch that answers like a token endpoint.
writeFileSync(join(smoke, 'token'), 'file-token\n')
const sources = `
  const fromFile = rc.createTokenProvider({ fetchToken: node.fileToken(${JSON.stringify(join(smoke, 'token'))}) })
  const bodies = []
  const fetchToken = rc.clientCredentials({
    tokenUrl: 'http://127.0.0.1:9/token',
    clientId: 'svc',
    clientSecret: 'secret',
    fetch: async (input) => {
      bodies.push(await input.text())
      return new Response(JSON.stringify({ access_token: 'granted', expires_in: 60 }), {
        headers: { 'content-type': 'application/json' },
      })
    },
  })
  const granted = rc.createTokenProvider({ fetchToken })
  const ok = (await fromFile.getToken()) === 'file-token' && (await granted.getToken()) === 'granted' &&
    bodies.join() === 'grant_type=client_credentials'
  fromFile.dispose()
  granted.dispose()
  if (!ok) throw new Error('sources smoke test failed: ' + JSON.stringify(bodies))
`
const sourceRuns = {
  require: `const rc = require('refreshing-client'); const node = require('refreshing-client/node'); (async () => { ${sources} })().then(() => console.log('require() of the sources ok'), (e) => { console.error(e); process.exit(1) })`,
  import: `const rc = await import('refreshing-client'); const node = await import('refreshing-client/node'); ${sources}; console.log('import() of the sources ok')`,
}
execFileSync(process.execPath, ['-e', sourceRuns.require], { cwd: smoke, stdio: 'inherit' })
execFileSync(process.execPath, ['--input-type=module', '-e', sourceRuns.import], { cwd: smoke, stdio: 'inherit' })

// The redis entry: ioredis is an optional peer, so nothing else may load it. The store is made on a
// client that never connects (lazyConnect), and a wrong key length must be refused at once.
for (const file of pack.files.map((file) => file.path).filter((path) => /^dist\/.+\.(m?js)$/.test(path))) {
  const text = readFileSync(join(target, file), 'utf8')
  const loadsIoredis = /(\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]ioredis['"]/.test(text)
  if (!file.startsWith('dist/redis.') && loadsIoredis) throw new Error(`${file} loads ioredis`)
  // The same for the OpenTelemetry API: only the otel entry (and its own modules) may load it.
  const loadsOtel = /(\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]@opentelemetry\/api['"]/.test(text)
  if (!(file.startsWith('dist/otel.') || file.startsWith('dist/esm/otel/')) && loadsOtel) {
    throw new Error(`${file} loads @opentelemetry/api`)
  }
}
const redis = `
  const redis = new Redis({ lazyConnect: true })
  const store = rr.createRedisStore({ redis, encryptionKey: new Uint8Array(32) })
  let refused = false
  try {
    rr.createRedisStore({ redis, encryptionKey: new Uint8Array(10) })
  } catch (error) {
    refused = error instanceof RangeError
  }
  store.dispose()
  const afterDispose = await store.get('a').then(() => false, (error) => rc.isAuthError(error, 'ERR_DISPOSED'))
  const ok = typeof rr.createRedisStore === 'function' && rr.redisStoreDefaults.prefix === 'refreshing-client:' &&
    refused && afterDispose && redis.status === 'wait'
  redis.disconnect()
  if (!ok) throw new Error('redis smoke test failed: ' + JSON.stringify({ refused, afterDispose, status: redis.status }))
`
const redisRuns = {
  require: `const rc = require('refreshing-client'); const rr = require('refreshing-client/redis'); const Redis = require('ioredis'); (async () => { ${redis} })().then(() => console.log('require() of the redis entry ok'), (e) => { console.error(e); process.exit(1) })`,
  import: `const rc = await import('refreshing-client'); const rr = await import('refreshing-client/redis'); const { default: Redis } = await import('ioredis'); ${redis}; console.log('import() of the redis entry ok')`,
}
execFileSync(process.execPath, ['-e', redisRuns.require], { cwd: smoke, stdio: 'inherit' })
execFileSync(process.execPath, ['--input-type=module', '-e', redisRuns.import], { cwd: smoke, stdio: 'inherit' })
// The otel entry and the health handler, read back through the OpenTelemetry SDK: one token request
// recorded as a counter point and a span, and a readiness answer.
const otel = `
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 2 ** 31 - 1 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const tokens = rc.createTokenProvider({ name: 'svc', fetchToken: async () => ({ accessToken: 'opaque', expiresIn: 60 }) })
  const stop = ro.instrument(tokens, { meterProvider, tracerProvider })
  await tokens.getToken()
  await reader.forceFlush()
  const metric = exporter.getMetrics().at(-1).scopeMetrics[0].metrics.find((m) => m.descriptor.name === 'refreshing_client.refreshes')
  const ready = await rc.createHealthHandler(tokens)(new Request('http://127.0.0.1/readyz'))
  const ok = metric.dataPoints.length === 1 && metric.dataPoints[0].value === 1 &&
    metric.dataPoints[0].attributes.outcome === 'success' && spans.getFinishedSpans().length === 1 && ready.status === 200
  stop()
  tokens.dispose()
  await meterProvider.shutdown()
  await tracerProvider.shutdown()
  if (!ok) throw new Error('otel smoke test failed: ' + JSON.stringify({ points: metric?.dataPoints, status: ready.status }))
`
const sdk = `{ MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality }`
const traceSdk = `{ BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor }`
const otelRuns = {
  require: `const rc = require('refreshing-client'); const ro = require('refreshing-client/otel'); const ${sdk} = require('@opentelemetry/sdk-metrics'); const ${traceSdk} = require('@opentelemetry/sdk-trace-base'); (async () => { ${otel} })().then(() => console.log('require() of the otel entry ok'), (e) => { console.error(e); process.exit(1) })`,
  import: `const rc = await import('refreshing-client'); const ro = await import('refreshing-client/otel'); const ${sdk} = await import('@opentelemetry/sdk-metrics'); const ${traceSdk} = await import('@opentelemetry/sdk-trace-base'); ${otel}; console.log('import() of the otel entry ok')`,
}
execFileSync(process.execPath, ['-e', otelRuns.require], { cwd: smoke, stdio: 'inherit' })
execFileSync(process.execPath, ['--input-type=module', '-e', otelRuns.import], { cwd: smoke, stdio: 'inherit' })
rmSync(smoke, { recursive: true, force: true })
