import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The built program, as npm installs it as `refreshing-client`. */
export const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

/** A running `refreshing-client proxy`, with everything it printed so far. */
export interface RunningProxy {
  readonly url: string
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** startCli starts `refreshing-client proxy …` and waits for its "listening on" line. */
export function startCliProxy(args: string[], env: Record<string, string> = {}): Promise<RunningProxy> {
  const child = spawn(process.execPath, [cli, 'proxy', ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start: ${stderr}`)), 15_000)
    const onData = () => {
      const url = /^listening on (http:\/\/\S+)$/m.exec(stdout)?.[1]
      if (url === undefined) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      resolve({
        url,
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          return exited
        },
      })
    }
    child.stdout.on('data', onData)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`the proxy exited with ${code}: ${stderr}`))
    })
  })
}

/** runCli runs the program to its end. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number | null), stdout, stderr }),
    )
  })
}
