import { expect, it } from 'vitest'
import { fixture, root, runNodeSync } from '../helpers/processes.js'

const dist = `${root}dist/`

// 0.1 exited under the second request's throttle wait: code 13 in ESM (unsettled top-level await),
// code 0 in CommonJS with the request never sent.
it.each([
  ['ESM', 'job.mjs', `${dist}index.mjs`],
  ['CommonJS', 'job.cjs', `${dist}index.js`],
])('keeps a one-shot %s job alive while its request awaits a token, and lets it exit after', (_, job, entry) => {
  const child = runNodeSync([fixture(`one-shot/${job}`), entry], 15_000)
  expect(child.error).toBeUndefined()
  expect(child.signal).toBeNull()
  expect(child.stderr).toBe('')
  expect(child.stdout).toBe('Bearer token-1\nBearer token-2\n')
  expect(child.status).toBe(0)
})
