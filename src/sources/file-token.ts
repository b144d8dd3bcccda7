import { type Stats, unwatchFile, watchFile } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { AuthError } from '../errors.js'
import { codeOf } from '../internal/describe.js'
import { duration } from '../internal/options.js'
import { clampDelay } from '../internal/timer.js'
import type { FetchToken, TokenProvider } from '../token/types.js'

/**
 * FileTokenOptions are the options of {@link fileToken}.
 *
 * @example
 * ```ts
 * const options: FileTokenOptions = { watch: true, pollIntervalMs: 250 }
 * ```
 */
export interface FileTokenOptions {
  /** Push the token to the provider as soon as the file changes, without waiting for a refresh. @default false */
  watch?: boolean | undefined
  /** With `watch`, how often the file is checked for a change, in ms. @default 500 */
  pollIntervalMs?: number | undefined
}

/** fileTokenDefaults are the file token's defaults. Times are milliseconds. */
const fileTokenDefaults = Object.freeze({
  /** A change is pushed within about a second: one poll interval, then the settle delay. */
  pollIntervalMs: 500,
  /** A writer that truncates and then writes makes two changes: read once, after both. */
  settleMs: 100,
})

/**
 * fileToken is a {@link FetchToken} that reads a token from a file that another process rotates:
 * a Kubernetes projected service account token, or a token a parent process writes for its
 * children. Every refresh reads the file again (trimmed). A missing, empty or unreadable file is a
 * non-terminal `AuthError` (`ERR_TOKEN_SOURCE`) naming the path, never the content.
 *
 * With `watch: true`, the provider also gets each new token pushed within about a second of the
 * change (a token it would refuse is left for the next refresh to report), and watching stops when
 * the provider is disposed. The watcher never keeps the process alive.
 *
 * @example
 * ```ts
 * import { fileToken } from 'refreshing-client/node'
 *
 * const tokens = createTokenProvider({
 *   fetchToken: fileToken('/var/run/secrets/tokens/api-token', { watch: true }),
 * })
 * ```
 */
export function fileToken(path: string | URL, options: FileTokenOptions = {}): FetchToken {
  if (typeof path !== 'string' && !(path instanceof URL)) throw new TypeError('fileToken: path must be a string or URL')
  const file = typeof path === 'string' ? path : fileURLToPath(path)
  if (file === '') throw new TypeError('fileToken: path must not be empty')
  if (typeof options !== 'object' || options === null) throw new TypeError('fileToken: options must be an object')
  const { watch = false } = options
  if (typeof watch !== 'boolean') throw new TypeError('fileToken: watch must be a boolean')
  const pollIntervalMs = duration('fileToken: pollIntervalMs', options.pollIntervalMs, fileTokenDefaults.pollIntervalMs)

  const fetchToken: FetchToken = ({ signal }) => readToken(file, signal)
  if (watch) fetchToken.attach = (provider) => watchToken(file, pollIntervalMs, provider)
  return fetchToken
}

async function readToken(file: string, signal?: AbortSignal): Promise<string> {
  let content: string
  try {
    content = await readFile(file, { encoding: 'utf8', ...(signal === undefined ? {} : { signal }) })
  } catch (error) {
    if (signal?.aborted === true) throw signal.reason
    const code = codeOf(error)
    const problem = code === 'ENOENT' ? 'does not exist' : `could not be read (${code ?? 'error'})`
    throw new AuthError(`fileToken: the token file ${file} ${problem}`, { code: 'ERR_TOKEN_SOURCE' })
  }
  const token = content.trim()
  if (token === '') throw new AuthError(`fileToken: the token file ${file} is empty`, { code: 'ERR_TOKEN_SOURCE' })
  return token
}

// Why `watchFile` (stat polling) rather than `fs.watch`: Kubernetes rotates a projected token by
// pointing the `..data` symlink at a new directory, so the file's path resolves to a new inode and
// an `fs.watch` on the file keeps watching the old one, silently. Watching the directory instead
// reports `..data` rather than the file's name, and `fs.watch` differs by platform and does not
// work on some network and overlay file systems. `watchFile` stats the path itself, following the
// symlinks each time, so it sees renames, swaps and in-place writes alike, everywhere; with
// `persistent: false` it never keeps the process alive. One stat per interval is the whole cost.
function watchToken(file: string, intervalMs: number, provider: TokenProvider): () => void {
  let stopped = false
  let settle: ReturnType<typeof setTimeout> | undefined

  // Never rejects: a file that cannot be read or a token the provider refuses (a TokenDecodeError,
  // a claims mismatch) is left for the next refresh, which reads the file again and reports it.
  const push = async (): Promise<void> => {
    let token: string
    try {
      token = await readToken(file)
    } catch {
      return
    }
    if (stopped) return
    try {
      provider.setToken(token)
    } catch {}
  }

  // The listener also fires when only the access time changed (our own reads may do that): act on
  // a new inode, mtime or size only. A missing file reports zeroed stats: nothing to read yet.
  const onChange = (current: Stats, previous: Stats) => {
    const same = current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size
    if (stopped || same || current.mtimeMs === 0) return
    clearTimeout(settle)
    settle = setTimeout(() => {
      settle = undefined
      void push()
    }, fileTokenDefaults.settleMs)
    settle.unref()
  }

  watchFile(file, { interval: clampDelay(intervalMs), persistent: false }, onChange)
  return () => {
    stopped = true
    clearTimeout(settle)
    unwatchFile(file, onChange)
  }
}
