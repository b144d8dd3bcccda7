// Start-up: a cold `import()` of the built package against `import('ky')` alone, each in a fresh
// Node process (timed inside it, from just before the import to just after), interleaved, after
// one discarded run of each (so both read warm OS file caches); medians of 15 runs each.
import { distEntry, emit, log, median, rotate, row, runNode } from './lib/harness.mjs'

const runs = 15
const timed = (specifier) =>
  `const start = performance.now(); await import(${JSON.stringify(specifier)}); ` +
  'process.stdout.write(String(performance.now() - start))'
const variants = [
  { name: "import('ky')", code: timed('ky'), samples: [] },
  { name: 'import of refreshing-client (dist/index.mjs)', code: timed(distEntry), samples: [] },
]
const once = (variant) => Number(runNode(['--input-type=module', '-e', variant.code]))

for (const variant of variants) once(variant)
for (let run = 0; run < runs; run++) {
  for (const variant of rotate(variants, run)) variant.samples.push(once(variant))
}
const [ky, ours] = variants.map((variant) => median(variant.samples))
log(`start-up: import('ky') ${ky.toFixed(1)} ms, refreshing-client ${ours.toFixed(1)} ms (medians of ${runs})`)
emit([
  row(`cold import('ky') alone, median of ${runs} fresh processes`, ky, 'ms', ky),
  row(`cold import() of refreshing-client, median of ${runs} fresh processes (vs ky)`, ours, 'ms', ky),
])
