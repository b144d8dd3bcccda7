import { expect, it } from 'vitest'
import { fixture, root, runNodeSync } from '../helpers/processes.js'

it('forgets a million sessions: heap after gc() grows under 2 MB, no scope and no timer left', () => {
  const child = runNodeSync(['--expose-gc', fixture('scope-cycles.mjs'), `${root}dist/index.mjs`, '1000000'], 120_000)
  expect(child.stderr).toBe('')
  const result = JSON.parse(child.stdout) as { growthBytes: number; size: number; liveTimers: number }
  expect(result.size).toBe(0)
  expect(result.liveTimers).toBe(0)
  expect(result.growthBytes).toBeLessThan(2 * 1024 * 1024)
}, 180_000)
