/**
 * The `refreshing-client/otel` entry: OpenTelemetry metrics and spans for providers, registries and
 * clients. `@opentelemetry/api` (1.9 or later) is an optional peer dependency that only this entry uses.
 *
 * @module
 */

export { type InstrumentOptions, instrument } from './otel/instrument.js'
