import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { listen } from './listen.js'
import { type Running, start } from './processes.js'

/** A real `redis-server` of our own on 127.0.0.1, without persistence; it can be stopped and started again. */
export interface RedisServer {
  readonly port: number
  readonly running: boolean
  start(): Promise<void>
  stop(): Promise<void>
}

/** freePort asks the OS for a port that is free now. */
export async function freePort(): Promise<number> {
  const probe = await listen(createServer())
  await probe.close()
  return probe.port
}

/** startRedisServer starts `redis-server` on a free port and waits until it accepts connections. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort()
  let child: Running | undefined
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
      const started = start('redis-server', args, { stopWhenTestFinishes: false })
      child = started
      await started.waitFor(/Ready to accept connections/, 10_000).catch(async (error: unknown) => {
        child = undefined
        await started.stop('SIGKILL')
        throw new Error(`redis-server did not start: ${String(error)}\n${started.stdout()}`)
      })
    },
    async stop() {
      const running = child
      if (running === undefined) return
      child = undefined
      await running.stop('SIGKILL')
    },
  }
  await server.start()
  return server
}

/** A TCP server that accepts connections and never answers: a Redis that hangs. */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const { port, close } = await listen(createServer())
  return { port, close }
}
