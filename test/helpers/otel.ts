import type { Attributes } from '@opentelemetry/api'
import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'

/** The real OpenTelemetry SDK with its in-memory exporters: what `instrument` is read back through. */
export interface OtelHarness {
  readonly meterProvider: MeterProvider
  readonly tracerProvider: BasicTracerProvider
  /** Exports the metrics now (cumulative) and returns the data points of `name`. */
  points(name: string): Promise<DataPoint<unknown>[]>
  /** The sum of the values of `name`'s points whose attributes include `match`. */
  sum(name: string, match?: Attributes): Promise<number>
  /** Every finished span. */
  spans(): ReadableSpan[]
  /** Everything exported so far, as JSON (for checks that no secret is in it). */
  exported(): Promise<string>
  shutdown(): Promise<void>
}

export function startOtel(): OtelHarness {
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // Exported on demand (forceFlush) only: the interval is as long as a timer goes.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 2 ** 31 - 1 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const points = async (name: string) => {
    await reader.forceFlush()
    const latest = metricExporter.getMetrics().at(-1)
    const metric = latest?.scopeMetrics.flatMap((scope) => scope.metrics).find((m) => m.descriptor.name === name)
    return (metric?.dataPoints ?? []) as DataPoint<unknown>[]
  }
  return {
    meterProvider,
    tracerProvider,
    points,
    async sum(name, match = {}) {
      let total = 0
      for (const point of await points(name)) {
        if (!Object.entries(match).every(([key, value]) => point.attributes[key] === value)) continue
        const value = point.value
        total += typeof value === 'number' ? value : (value as { count: number }).count
      }
      return total
    },
    spans: () => spanExporter.getFinishedSpans(),
    async exported() {
      await reader.forceFlush()
      const spans = spanExporter.getFinishedSpans().map((span) => ({
        name: span.name,
        attributes: span.attributes,
        status: span.status,
        events: span.events,
        links: span.links,
      }))
      return JSON.stringify({ metrics: metricExporter.getMetrics(), spans })
    },
    async shutdown() {
      await meterProvider.shutdown()
      await tracerProvider.shutdown()
    },
  }
}
