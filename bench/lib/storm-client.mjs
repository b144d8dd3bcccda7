// One refresh storm, in a fresh process: one client of the given variant, holding a token the
// server has just revoked, sends N requests at once. Prints { succeeded, failed, failures (by
// reason), ms } as JSON.
// Usage: node storm-client.mjs <variant> <origin> <tokenUrl> <token> <N> <sockets>
//
// Every client gets the same pool of <sockets> keep-alive connections to the origin (undici's
// Agent for fetch, ky and ours; an http.Agent for axios), so that all N requests are in flight
// at once as far as the client is concerned while the kernel never sees thousands of connection
// attempts at once: with unlimited pools, the loopback's accept queue (somaxconn 4096 here)
// overflows, SYNs are retransmitted after 1, 3, 7… seconds, and TCP set-up, not the refresh
// logic, decides the time and the failures.
import http from 'node:http'
import { Agent, setGlobalDispatcher } from 'undici'
import { createVariant } from './clients.mjs'

const [name, origin, tokenUrl, token, count, sockets] = process.argv.slice(2)
setGlobalDispatcher(new Agent({ connections: Number(sockets) }))
http.globalAgent = new http.Agent({ keepAlive: true, maxSockets: Number(sockets) })

const request = createVariant(name, { origin, tokenUrl, token })
const begin = performance.now()
const outcomes = await Promise.all(Array.from({ length: Number(count) }, () => request()))
const ms = performance.now() - begin
const succeeded = outcomes.filter((outcome) => outcome === true).length
const failures = {}
for (const outcome of outcomes) if (outcome !== true) failures[outcome] = (failures[outcome] ?? 0) + 1
process.stdout.write(`${JSON.stringify({ succeeded, failed: outcomes.length - succeeded, failures, ms })}\n`)
// Keep-alive sockets would hold the process open for seconds.
process.exit(0)
