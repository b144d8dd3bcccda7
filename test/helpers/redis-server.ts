import { type ChildProcess, spawn } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'

/** A real `redis-server` of our own on 127.0.0.1, without persistence; it can be stopped and started again. */
export interface RedisServer {
  readonly port: number
  readonly running: boolean
  start(): Promise<void>
  stop(): Promise<void>
}

/** freePort asks the OS for a port that is free now. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

/** startRedisServer starts `redis-server` on a free port and waits until it accepts connections. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const server: RedisServer = {
    port,
    get running() {
      return child !== undefined
    },
    async start() {
      if (child !== undefined) return
      // biome-ignore format: one option with its value per line
      const args = [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', tmpdir(),
      ]
      const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
      child = started
      // Should the test process end without stopping it, the server ends with it.
      const kill = () => started.kill('SIGKILL')
      process.once('exit', kill)
      started.once('exit', () => process.off('exit', kill))
      let output = ''
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000)
        const onData = (chunk: Buffer) => {
          output += chunk.toString()
          if (output.includes('Ready to accept connections')) {
            clearTimeout(timer)
            resolve()
          }
        }
        started.stdout?.on('data', onData)
        started.stderr?.on('data', onData)
        started.once('error', (error) => {
          clearTimeout(timer)
          reject(error)
        })
        started.once('exit', (code) => {
          clearTimeout(timer)
          reject(new Error(`redis-server exited with ${code}:\n${output}`))
        })
      }).catch((error: unknown) => {
        child = undefined
        started.kill('SIGKILL')
        throw error
      })
    },
    async stop() {
      const running = child
      if (running === undefined) return
      child = undefined
      if (running.exitCode !== null) return
      await new Promise((resolve) => {
        running.once('exit', resolve)
        running.kill('SIGKILL')
      })
    },
  }
  await server.start()
  return server
}

/** A TCP server that accepts connections and never answers: a Redis that hangs. */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return {
    port: address.port,
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
