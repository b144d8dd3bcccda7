/**
 * The `refreshing-client` program (the package's `bin`): a loopback proxy and a token printer for
 * hosts that cannot take a `fetch`. See `refreshing-client --help`.
 *
 * @module
 */
import { run } from './cli/main.js'

const stopped = new Promise<void>((resolve) => {
  process.once('SIGTERM', resolve)
  process.once('SIGINT', resolve)
})

run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stopped,
}).then(
  (code) => {
    process.exitCode = code
    // The signal handlers are the last thing holding the process: let it end.
    process.removeAllListeners('SIGTERM')
    process.removeAllListeners('SIGINT')
  },
  () => {
    process.exitCode = 1
  },
)
