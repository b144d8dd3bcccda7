// The smoke test's entry for runtimes that run a file: Node, Bun and Deno. The config comes as the
// first argument (JSON); the result goes to stdout as one line after a marker, for the host.
import * as rc from '../../dist/index.mjs'
import { smoke } from './smoke.mjs'

const args = globalThis.Deno?.args ?? globalThis.process.argv.slice(2)
const config = JSON.parse(args[0])
const result = await smoke(rc, config)

// A provider left armed on purpose: its refresh timer must not keep the process alive (the host
// fails a runtime whose process does not exit on its own). The token is unsigned: only its `exp`
// is read.
const encode = (value) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
const exp = Math.floor(Date.now() / 1000) + 3600
const idle = rc.createTokenProvider({
  initialToken: `${encode({ alg: 'none' })}.${encode({ exp })}.x`,
  fetchToken: () => new Promise(() => {}),
})
if (idle.state !== 'fresh') result.checks.push({ name: 'idle provider', ok: false, detail: `state ${idle.state}` })

console.log(`@@smoke ${JSON.stringify({ ...result, ok: result.checks.every((entry) => entry.ok) })}`)
