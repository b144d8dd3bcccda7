import { type ChildProcess, execFile, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'

/** The repository's root folder, with a trailing slash. */
export const root = fileURLToPath(new URL('../../', import.meta.url))

/** fixture is the path of a file under test/fixtures. */
export const fixture = (name: string): string => `${root}test/fixtures/${name}`

/** A child process a test started, with everything it printed so far. */
export interface Running {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the first match of `pattern` in what it printed, or rejects when it exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** Sends `signal` unless it has ended, and resolves with its exit code (idempotent). */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface StartOptions {
  /** The whole environment. @default `process.env` */
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** @default 'ignore' */
  stdin?: 'ignore' | 'pipe'
  /** Pass stderr through to the test's own instead of collecting it. @default false */
  inheritStderr?: boolean
  /** Stop it when the test that started it finishes; false for a server that outlives tests. @default true */
  stopWhenTestFinishes?: boolean
}

/**
 * start spawns `command`. The process is killed when the test process exits, and stopped when the
 * test finishes if it was started inside one (as `listen` closes servers) unless
 * `stopWhenTestFinishes` is false; started in `beforeAll`, the file stops it in `afterAll`.
 */
export function start(command: string, args: string[], options: StartOptions = {}): Running {
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd ?? root,
    stdio: [options.stdin ?? 'ignore', 'pipe', options.inheritStderr === true ? 'inherit' : 'pipe'],
  })
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null))
    child.once('exit', (code) => {
      process.off('exit', kill)
      resolve(code)
    })
  })
  const ended = () => child.exitCode !== null || child.signalCode !== null
  const running: Running = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout) ?? pattern.exec(stderr)
          if (match === null) return
          done()
          resolve(match)
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`${command} printed nothing like ${pattern} in ${timeoutMs} ms: ${stderr}`))
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          child.stdout?.off('data', check)
          child.stderr?.off('data', check)
        }
        child.stdout?.on('data', check)
        child.stderr?.on('data', check)
        void exited.then((code) => {
          done()
          reject(new Error(`${command} exited with ${code}: ${stderr}`))
        })
        check()
      })
    },
    stop(signal = 'SIGTERM') {
      if (!ended()) child.kill(signal)
      return exited
    },
  }
  try {
    if (options.stopWhenTestFinishes !== false) onTestFinished(() => running.stop('SIGKILL').then(() => {}))
  } catch {
    // Outside a test (a `beforeAll`): the caller stops it.
  }
  return running
}

/** What a process that ran to its end printed, and its exit code. */
export interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** run runs `command` to its end (killed after `timeoutMs`); it never rejects. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: options.env ?? process.env, cwd: options.cwd ?? root, timeout: options.timeoutMs ?? 30_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number | null), stdout, stderr }),
    )
  })
}

/** runNodeSync runs Node with `args` to its end, blocking (for a child whose timing must not share the test's event loop). */
export function runNodeSync(args: string[], timeoutMs: number): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: timeoutMs })
}
