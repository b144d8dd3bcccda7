// Recipe 7: health, readiness and OpenTelemetry. A readiness endpoint that answers 503 once any
// agent has no token it would send, and the library's metrics and spans through the OpenTelemetry
// SDK (here its in-memory exporters; in production, @opentelemetry/sdk-node's global providers).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createHealthHandler, createRegistry } from 'refreshing-client'
import { toNodeHandler } from 'refreshing-client/node'
import { instrument } from 'refreshing-client/otel'
import { startTown } from './support/town.js'

async function main(): Promise<void> {
  const town = await startTown({ lifetimeS: 2 })
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })

  const registry = createRegistry()
  const stop = instrument(registry, { meterProvider, tracerProvider }) // scopes made later are covered too
  const ready = createServer(toNodeHandler(createHealthHandler(registry))).listen(0, '127.0.0.1')
  await new Promise((resolve) => ready.once('listening', resolve))
  const readyz = `http://127.0.0.1:${(ready.address() as AddressInfo).port}/readyz`

  for (const agent of ['agent-1', 'agent-2']) {
    const scope = registry.scope(agent, { fetchToken: town.tokenFor(agent) })
    scope.heartbeat({ url: `${town.api}/agents/${agent}/heartbeat`, intervalMs: 500 })
  }
  registry.scope('agent-3') // push-only, and nothing pushed yet: not ready
  let response = await fetch(readyz)
  console.log(`readyz: ${response.status}`, JSON.stringify((await response.json()).scopes['agent-3']))
  registry.setToken('agent-3', await town.mint('agent-3', 60))
  await new Promise((resolve) => setTimeout(resolve, 2_500)) // every 2-second token refreshed at least once
  response = await fetch(readyz)
  console.log(`readyz: ${response.status} (${response.headers.get('cache-control')})`)

  await reader.forceFlush()
  const exported =
    metrics
      .getMetrics()
      .at(-1)
      ?.scopeMetrics.flatMap((scope) => scope.metrics) ?? []
  for (const metric of exported) {
    for (const point of metric.dataPoints) {
      const value =
        typeof point.value === 'number' ? point.value.toFixed(1) : `count=${(point.value as { count: number }).count}`
      console.log(`${metric.descriptor.name} ${JSON.stringify(point.attributes)} ${value}`)
    }
  }
  console.log(`spans: ${spans.getFinishedSpans().length} × ${spans.getFinishedSpans()[0]?.name}`)

  stop()
  registry.dispose()
  ready.close()
  await meterProvider.shutdown()
  await tracerProvider.shutdown()
  await town.close()
}

void main()
