import { expect, it } from 'vitest'
import { root, runNodeSync } from '../helpers/processes.js'

// The leak check of test/helpers/setup.ts runs after every test file. A check that cannot fail
// proves nothing: here it runs over files that each leak one thing on purpose, and must fail each
// of them with a message naming the leak, and pass the one that cleans up.
it('fails any test file that leaks a timer, a server or a scope, and names the leak', () => {
  const child = runNodeSync(
    [
      `${root}node_modules/vitest/vitest.mjs`,
      'run',
      '--config',
      'test/fixtures/leaks/vitest.config.mts',
      '--reporter=json',
    ],
    60_000,
  )
  expect(child.status).toBe(1)
  const report = JSON.parse(child.stdout) as { testResults: { name: string; status: string; message: string }[] }
  const outcomes = Object.fromEntries(
    report.testResults.map((result) => [result.name.replace(/^.*\//, ''), `${result.status}: ${result.message}`]),
  )
  expect(outcomes).toEqual({
    'clean.leaky.ts': 'passed: ',
    'fake-timer.leaky.ts':
      'failed: leak check: test "ends with a fake timer pending" ended with 1 fake timer(s) pending',
    'listening.leaky.ts': 'failed: leak check: 1 TCP server(s) still listening',
    'registry.leaky.ts': 'failed: leak check: the global registry still holds scopes: ["forgotten-agent"]',
    'server.leaky.ts': 'failed: leak check: 1 test server(s) not closed; 1 TCP server(s) still listening',
    'timer.leaky.ts': 'failed: leak check: 1 timer(s) of the library still set',
  })
}, 90_000)
