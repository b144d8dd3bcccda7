import { expect, it } from 'vitest'
import { fixture, runNodeSync } from '../helpers/processes.js'

it('lets a process that only holds a provider exit on its own', () => {
  const child = runNodeSync(['--import', 'tsx', fixture('idle-provider.mts')], 15_000)
  expect(child.error).toBeUndefined()
  expect(child.signal).toBeNull()
  expect(child.stderr).toBe('')
  expect(child.stdout).toBe('fresh\n')
  expect(child.status).toBe(0)
})
