// Starts bench/lib/api-server.mjs (the API and the token endpoint) in a child process and talks to
// it over IPC.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('./api-server.mjs', import.meta.url))

/**
 * startServerProcess forks the API server and resolves once it listens. `call(type, payload)`
 * sends a control message (mint, revoke, stats, reset) and resolves with the reply.
 */
export function startServerProcess() {
  const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map()
  let next = 0
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`the bench server exited early (${code})`)))
    child.on('message', (message) => {
      if (message.ready) {
        resolve({
          origin: message.origin,
          tokenUrl: message.tokenUrl,
          call(type, payload = {}) {
            const id = ++next
            child.send({ id, type, ...payload })
            return new Promise((done) => pending.set(id, done))
          },
          close() {
            child.removeAllListeners('exit')
            child.disconnect()
            return new Promise((done) => child.once('exit', done))
          },
        })
        return
      }
      pending.get(message.id)?.(message)
      pending.delete(message.id)
    })
  })
}
