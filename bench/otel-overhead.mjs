// What instrumentation adds to a request: client.fetch over a stub fetch (a prebuilt Response),
// with and without `instrument(client)` from `refreshing-client/otel` (the OpenTelemetry SDK's
// meter and tracer providers behind it), in the same process, in interleaved rounds. The hot path
// records nothing per request (only a replay is counted), so the difference should be noise.
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { distEntry, emit, log, median, row } from './lib/harness.mjs'
import { interleave, medianDifference, perCall, stubFetch } from './lib/interleave.mjs'
import { mint } from './lib/jwt.mjs'

const { RefreshingClient } = await import(distEntry)
const { instrument } = await import(distEntry.replace(/index\.mjs$/, 'otel.mjs'))

const rounds = 40
const calls = 50_000
const origin = 'http://127.0.0.1:9'
const stub = stubFetch()

const reader = new PeriodicExportingMetricReader({
  exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
  exportIntervalMillis: 2 ** 31 - 1,
})
const meterProvider = new MeterProvider({ readers: [reader] })
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())],
})

// Two clients alike but for the instrumentation, each with its own provider and token.
const plain = new RefreshingClient({
  tokens: { name: 'plain', initialToken: await mint() },
  baseUrl: origin,
  fetch: stub,
})
const observed = new RefreshingClient({
  tokens: { name: 'observed', initialToken: await mint() },
  baseUrl: origin,
  fetch: stub,
})
// An A/A control: a third client, alike and not instrumented, shows what two clients differ by anyway.
const control = new RefreshingClient({
  tokens: { name: 'control', initialToken: await mint() },
  baseUrl: origin,
  fetch: stub,
})
const stop = instrument(observed, { meterProvider, tracerProvider })

const variants = [
  { client: plain, samples: [] },
  { client: observed, samples: [] },
  { client: control, samples: [] },
]
await interleave(variants, {
  rounds,
  warmup: 10,
  measure: ({ client }) => perCall(() => client.fetch('/v1/items'), calls),
})
const [plainNs, observedNs] = variants.map((variant) => median(variant.samples))
const addedNs = medianDifference(variants[1].samples, variants[0].samples)
const controlNs = medianDifference(variants[2].samples, variants[0].samples)
log(
  `otel: client.fetch ${plainNs.toFixed(0)} ns, instrumented ${observedNs.toFixed(0)} ns, +${addedNs.toFixed(0)} ns (A/A control ${controlNs.toFixed(0)} ns)`,
)
stop()
plain.dispose()
observed.dispose()
control.dispose()
await meterProvider.shutdown()
await tracerProvider.shutdown()
emit([
  row('otel, GET: client.fetch over the stub, not instrumented', plainNs, 'ns/call', plainNs),
  row('otel, GET: client.fetch over the stub, instrument(client)', observedNs, 'ns/call', plainNs),
  row(
    'otel, GET: added by instrumentation (median of per-round differences)',
    addedNs,
    'ns/call',
    plainNs,
    'otel.added',
  ),
  row(
    'otel, GET: A/A control, a second uninstrumented client (median of per-round differences)',
    controlNs,
    'ns/call',
    plainNs,
  ),
])
