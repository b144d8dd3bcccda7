import { type Ran, type Running, root, run, start } from '../helpers/processes.js'

/** The built program, as npm installs it as `refreshing-client`. */
export const cli = `${root}dist/cli.js`

/** A running `refreshing-client proxy`, with everything it printed so far. */
export interface RunningProxy extends Running {
  readonly url: string
}

const environment = (env: Record<string, string>) => ({ PATH: process.env['PATH'] ?? '', ...env })

/** startCliProxy starts `refreshing-client proxy …` and waits for its "listening on" line. */
export async function startCliProxy(args: string[], env: Record<string, string> = {}): Promise<RunningProxy> {
  const proxy = start(process.execPath, [cli, 'proxy', ...args], { env: environment(env) })
  const [, url] = await proxy.waitFor(/^listening on (http:\/\/\S+)$/m).catch((error: unknown) => {
    throw new Error(`the proxy did not start: ${String(error)}`)
  })
  return { ...proxy, url: url as string }
}

/** runCli runs the program to its end. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return run(process.execPath, [cli, ...args], { env: environment(env) })
}
