// The method every in-process comparison shares: the baseline and the subjects measured in the same
// process, in interleaved rounds, each round in another order, so that a change in the machine's
// load or a JIT phase touches every variant alike; figures are medians over the rounds, and an
// "added" figure is the median of the per-round differences (not the difference of the medians).
import { median, nowNs, rotate } from './harness.mjs'

/**
 * interleave runs `measure(variant)` for every variant once per round, `rounds` times, each round
 * starting at another variant, after `warmup` rounds that are not kept. Each sample is pushed on
 * `variant.samples`; `afterRound(round)` runs after each kept round (for progress lines).
 */
export async function interleave(variants, { rounds, warmup = 0, measure, afterRound }) {
  for (let round = 0; round < warmup; round++) for (const variant of variants) await measure(variant)
  for (let round = 0; round < rounds; round++) {
    for (const variant of rotate(variants, round)) variant.samples.push(await measure(variant))
    afterRound?.(round)
  }
  return variants
}

/** perCall times `calls` awaited calls of `fn`, one after another: nanoseconds per call. */
export async function perCall(fn, calls) {
  const start = nowNs()
  for (let i = 0; i < calls; i++) await fn()
  return (nowNs() - start) / calls
}

/** medianDifference is the median of the per-round differences `samples[i] - baseline[i]`. */
export function medianDifference(samples, baseline) {
  return median(samples.map((value, i) => value - baseline[i]))
}

/** medianRatio is the median of the per-round ratios `samples[i] / baseline[i]`. */
export function medianRatio(samples, baseline) {
  return median(samples.map((value, i) => value / baseline[i]))
}

/**
 * stubFetch is a fetch without network: every call resolves to one prebuilt JSON Response, and
 * `stub.lastInit` holds the init of the last call (to check what a client sent).
 */
export function stubFetch() {
  const response = new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } })
  const stub = (_input, init) => {
    stub.lastInit = init
    return Promise.resolve(response)
  }
  stub.response = response
  stub.lastInit = undefined
  return stub
}
