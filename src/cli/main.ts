import { isIP } from 'node:net'
import { describeError as describe } from '../internal/describe.js'
import { createFileStore } from '../store/file-store.js'
import { createTokenProvider } from '../token/create.js'
import { parse, sourceHelp, sourceOptions, UsageError } from './options.js'
import { startProxy } from './proxy.js'
import { type Source, type SourceValues, sourceFrom } from './source.js'

/** What the program talks to: its output streams and environment (a test passes its own). */
export interface Io {
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: NodeJS.ProcessEnv
  /** Resolves when the program should stop (SIGTERM or SIGINT). */
  stopped: Promise<void>
}

const usage = `Usage: refreshing-client <command> [options]

Commands:
  proxy   a loopback reverse proxy that adds a fresh token to every request to one upstream
  token   prints one fresh token

Run "refreshing-client <command> --help" for a command's options.
Exit codes: 0 ok, 1 runtime failure, 2 usage.`

const proxyHelp = `Usage: refreshing-client proxy --upstream URL [--listen HOST:PORT] <source> [--local-token-env NAME] [--log json]

A reverse proxy on loopback for hosts that only take a URL and static headers: every request gets a
fresh token (refreshed before expiry, one refresh for all requests, one replay on 401), and goes to the
upstream's origin under the upstream's path (with --upstream https://h/mcp, / goes to /mcp and /x to
/mcp/x). Bodies stream both ways (event streams and chunked bodies unbuffered).

  --upstream URL            the one upstream origin (and path prefix) that receives the token
  --listen HOST:PORT        where to listen (default 127.0.0.1:0, a free port); loopback only,
                            unless --local-token-env is set
  --local-token-env NAME    every client must send Proxy-Authorization: Bearer <$NAME> (else 407)
  --log json                one line per request on stderr: method, path (no query), status, ms, replayed

${sourceHelp}

Prints "listening on http://HOST:PORT" on stdout once ready. SIGTERM or SIGINT: stops accepting, lets
requests in flight end (at most 10 s), exits 0.

Example:
  CLIENT_SECRET=… refreshing-client proxy --upstream https://api.example.com/mcp --listen 127.0.0.1:8787 \\
    --token-url https://auth.example.com/oauth2/token --client-id agent --client-secret-env CLIENT_SECRET`

const tokenHelp = `Usage: refreshing-client token <source> [--format raw|header|json] [--store FILE]

Prints one fresh token on stdout, and nothing else.

  --store FILE      share tokens through this file store: concurrent and later invocations on this
                    machine reuse one unexpired token (and the latest rotated refresh token) instead of
                    asking the endpoint each time; created 0600 in a 0700 directory
  --format raw      the token (default)
  --format header   {"Authorization":"Bearer …"}, for hosts' header helpers
  --format json     {"accessToken":…,"tokenType":…,"expiresAt":…} (expiresAt in epoch ms, when known)

${sourceHelp}

Example:
  CLIENT_SECRET=… refreshing-client token --token-url https://auth.example.com/oauth2/token \\
    --client-id agent --client-secret-env CLIENT_SECRET --format header`

/**
 * run is the program: it parses `args` (without the node and script paths), runs the command and
 * resolves with the exit code: 0 ok, 1 runtime failure, 2 usage. Nothing it prints holds a secret.
 */
export async function run(args: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = args
  try {
    switch (command) {
      case 'proxy':
        return await proxy(rest, io)
      case 'token':
        return await token(rest, io)
      case '--help':
      case '-h':
      case 'help':
        io.stdout(`${usage}\n`)
        return 0
      default:
        throw new UsageError(command === undefined ? 'a command is required' : `unknown command "${command}"`)
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(
        `refreshing-client: ${error.message}\n${command === 'proxy' || command === 'token' ? `Run "refreshing-client ${command} --help" for usage.` : usage}\n`,
      )
      return 2
    }
    io.stderr(`refreshing-client: ${describe(error)}\n`)
    return 1
  }
}

async function proxy(args: readonly string[], io: Io): Promise<number> {
  const values = parse(args, {
    ...sourceOptions,
    upstream: { type: 'string' },
    listen: { type: 'string' },
    'local-token-env': { type: 'string' },
    log: { type: 'string' },
  })
  if (values.help === true) {
    io.stdout(`${proxyHelp}\n`)
    return 0
  }
  const { upstream: upstreamText, listen = '127.0.0.1:0', 'local-token-env': localTokenEnv, log, ...rest } = values
  if (upstreamText === undefined) throw new UsageError('--upstream is required')
  const upstream = httpUrl(upstreamText, '--upstream')
  if (upstream.search !== '' || upstream.hash !== '') throw new UsageError('--upstream takes no query or fragment')
  if (log !== undefined && log !== 'json') throw new UsageError('--log takes one value: json')
  const { host, port } = hostPort(listen)
  let localToken: string | undefined
  if (localTokenEnv !== undefined) {
    localToken = io.env[localTokenEnv]?.trim()
    if (localToken === undefined || localToken === '') {
      throw new UsageError(`--local-token-env: the environment variable ${localTokenEnv} is not set`)
    }
  } else if (!isLoopback(host)) {
    throw new UsageError(
      `--listen ${listen} is not a loopback address: anyone who can reach it would use your token; add --local-token-env NAME`,
    )
  }
  const source = await sourceFrom(rest as SourceValues, io.env)
  const running = await startProxy({
    upstream,
    host,
    port,
    localToken,
    source,
    log: log === 'json' ? (line) => io.stderr(`${line}\n`) : undefined,
  })
  io.stdout(`listening on ${running.url}\n`)
  await io.stopped
  await running.close()
  return 0
}

async function token(args: readonly string[], io: Io): Promise<number> {
  const values = parse(args, { ...sourceOptions, format: { type: 'string' }, store: { type: 'string' } })
  if (values.help === true) {
    io.stdout(`${tokenHelp}\n`)
    return 0
  }
  const { format = 'raw', store: storePath, ...rest } = values
  if (format !== 'raw' && format !== 'header' && format !== 'json') {
    throw new UsageError('--format takes raw, header or json')
  }
  if (storePath === '') throw new UsageError('--store takes a file path')
  const source: Source = await sourceFrom(rest as SourceValues, io.env)
  let store: ReturnType<typeof createFileStore> | undefined
  try {
    store = storePath === undefined ? undefined : createFileStore({ path: storePath })
  } catch (error) {
    throw new UsageError(`--store: ${error instanceof Error ? error.message : 'cannot use that path'}`)
  }
  const tokens = createTokenProvider({
    name: source.name,
    fetchToken: source.fetchToken,
    ...(store === undefined ? {} : { store, storeKey: source.identity }),
  })
  try {
    const set = await tokens.getTokenSet()
    const printed =
      format === 'raw'
        ? set.accessToken
        : format === 'header'
          ? JSON.stringify({
              Authorization: `${set.tokenType?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'} ${set.accessToken}`,
            })
          : JSON.stringify({
              accessToken: set.accessToken,
              tokenType: set.tokenType ?? 'Bearer',
              expiresAt: set.expiresAt,
            })
    io.stdout(`${printed}\n`)
    return 0
  } finally {
    tokens.dispose()
    store?.dispose()
  }
}

function httpUrl(text: string, option: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`${option} must be an absolute http(s) URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${option} must be an http(s) URL`)
  if (url.username !== '' || url.password !== '') throw new UsageError(`${option} must not carry credentials`)
  return url
}

function hostPort(listen: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(listen)
  const port = Number(match?.[2])
  if (match === null || port > 65_535) throw new UsageError('--listen takes HOST:PORT, such as 127.0.0.1:8787')
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port }
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}
