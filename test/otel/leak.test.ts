import { expect, it } from 'vitest'
import { fixture, root, runNodeSync } from '../helpers/processes.js'

it('an instrumented registry forgets a million sessions: heap after gc() grows under 2 MB, no gauge point left', () => {
  const child = runNodeSync(['--expose-gc', fixture('otel-scope-cycles.mjs'), `${root}dist`, '1000000'], 150_000)
  expect(child.stderr).toBe('')
  const result = JSON.parse(child.stdout) as { growthBytes: number; size: number; gaugePoints: number }
  expect(result.size).toBe(0)
  expect(result.gaugePoints).toBe(0)
  expect(result.growthBytes).toBeLessThan(2 * 1024 * 1024)
}, 180_000)
