import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('lets a process that only holds a provider exit on its own', () => {
  const script = fileURLToPath(new URL('../fixtures/idle-provider.mts', import.meta.url))
  const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 15_000 })
  expect(child.error).toBeUndefined()
  expect(child.signal).toBeNull()
  expect(child.stderr).toBe('')
  expect(child.stdout).toBe('fresh\n')
  expect(child.status).toBe(0)
})
