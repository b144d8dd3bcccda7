import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('an instrumented registry forgets a million sessions: heap after gc() grows under 2 MB, no gauge point left', () => {
  const script = fileURLToPath(new URL('../fixtures/otel-scope-cycles.mjs', import.meta.url))
  const dist = fileURLToPath(new URL('../../dist', import.meta.url))
  const child = spawnSync(process.execPath, ['--expose-gc', script, dist, '1000000'], {
    encoding: 'utf8',
    timeout: 150_000,
  })
  expect(child.stderr).toBe('')
  const result = JSON.parse(child.stdout) as { growthBytes: number; size: number; gaugePoints: number }
  expect(result.size).toBe(0)
  expect(result.gaugePoints).toBe(0)
  expect(result.growthBytes).toBeLessThan(2 * 1024 * 1024)
}, 180_000)
