import type { IncomingMessage } from 'node:http'
import type { AddressInfo, Server, Socket } from 'node:net'
import { onTestFinished } from 'vitest'

/** A server listening on 127.0.0.1, known to the leak check until it is closed. */
export interface Listening {
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  /** Destroys every open connection (a hanging response too) and closes the server; idempotent. */
  close(): Promise<void>
}

const open = new Set<Server>()

/**
 * listen starts `server` (a `node:http` or plain `node:net` server) on 127.0.0.1 with a free port
 * and tracks it for the leak check of setup.ts. Started inside a test (or its `beforeEach`), it
 * closes by itself when the test finishes (`onTestFinished`); started in `beforeAll`, the file
 * closes it in `afterAll`, and the leak check names it if the file forgets.
 */
export async function listen(server: Server, options: { backlog?: number } = {}): Promise<Listening> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: options.backlog }, resolve))
  open.add(server)
  const { port } = server.address() as AddressInfo
  let closed: Promise<void> | undefined
  const listening: Listening = {
    port,
    origin: `http://127.0.0.1:${port}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        open.delete(server)
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
      return closed
    },
  }
  try {
    onTestFinished(() => listening.close())
  } catch {
    // Outside a test (a `beforeAll`): the caller closes it.
  }
  return listening
}

/** openServers counts the servers {@link listen} started that are not closed yet (for the leak check). */
export function openServers(): number {
  return open.size
}

/** readBody collects a request's whole body (empty when the request fails). */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks)))
    request.on('error', () => resolve(Buffer.concat(chunks)))
  })
}
