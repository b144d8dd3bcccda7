import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('forgets a million sessions: heap after gc() grows under 2 MB, no scope and no timer left', () => {
  const script = fileURLToPath(new URL('../fixtures/scope-cycles.mjs', import.meta.url))
  const entry = fileURLToPath(new URL('../../dist/index.mjs', import.meta.url))
  const child = spawnSync(process.execPath, ['--expose-gc', script, entry, '1000000'], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  expect(child.stderr).toBe('')
  const result = JSON.parse(child.stdout) as { growthBytes: number; size: number; liveTimers: number }
  expect(result.size).toBe(0)
  expect(result.liveTimers).toBe(0)
  expect(result.growthBytes).toBeLessThan(2 * 1024 * 1024)
}, 180_000)
