// `npm run test:conformance`: the MCP conformance suite's client-credentials and workload-identity
// (RFC 7523 JWT-bearer) scenarios against a client built on the built package
// (scripts/conformance-client.mjs). `auth/wif-jwt-bearer` exists from the 0.2.0 alphas on. The suite needs Node 22
// (it uses fs.globSync), so it runs under `npx -y node@22`; the client runs on this Node.
// Builds dist/ first when it is missing. Exits non-zero unless every check of every scenario passes.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const scenarios = ['auth/client-credentials-basic', 'auth/client-credentials-jwt', 'auth/wif-jwt-bearer']
const suite = 'node_modules/@modelcontextprotocol/conformance/dist/index.js'
// The suite splits --command on spaces: a Node path with a space falls back to `node` on PATH.
const node = process.execPath.includes(' ') ? 'node' : process.execPath

if (!existsSync(`${root}dist/index.mjs`)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })

let failed = 0
let passed = 0
for (const scenario of scenarios) {
  const run = spawnSync(
    'npx',
    ['-y', 'node@22', suite, 'client', '--command', `${node} scripts/conformance-client.mjs`, '--scenario', scenario],
    { cwd: root, encoding: 'utf8', timeout: 180_000 },
  )
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`
  const result = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(output)
  const ok = run.status === 0 && result !== null && result[3] === '0' && result[1] === result[2]
  if (ok) passed++
  else {
    failed++
    process.stderr.write(output)
  }
  console.log(
    `${ok ? 'ok  ' : 'FAIL'} ${scenario}: ${result === null ? 'no result' : `${result[1]}/${result[2]} checks passed`}`,
  )
}
console.log(`conformance: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
