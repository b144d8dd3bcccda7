import { unwatchFile, watchFile } from 'node:fs'
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createTokenProvider, type FetchToken, type FetchTokenContext, type TokenProvider } from '../../src/index.js'
import { fileToken } from '../../src/node.js'
import { mint } from '../helpers/jwt.js'
import { fixture, runNodeSync } from '../helpers/processes.js'
import { record } from '../helpers/record.js'
import { fetchContext as context, authRejection as failure } from '../helpers/sources.js'

let dir: string
let path: string
let providers: TokenProvider[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-token-'))
  path = join(dir, 'token')
})

afterEach(async () => {
  for (const p of providers) p.dispose()
  providers = []
  await rm(dir, { recursive: true, force: true })
})

/** Counts the refreshes (file reads on the provider's request) of a source, keeping its attach. */
function counted(source: FetchToken): { fetchToken: FetchToken; reads: () => number } {
  let reads = 0
  const fetchToken: FetchToken = Object.assign(
    (context: FetchTokenContext) => {
      reads++
      return source(context)
    },
    source.attach === undefined ? {} : { attach: source.attach },
  )
  return { fetchToken, reads: () => reads }
}

function provider(fetchToken: FetchToken, options = {}): TokenProvider {
  const made = createTokenProvider({ fetchToken, ...options })
  providers.push(made)
  return made
}

// A push only wins when newer (a later exp): the second token is issued a second later.
const tokenPair = async () => [await mint(), await mint({ issuedAt: Date.now() + 1_000 })] as const
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('fileToken', () => {
  it('reads the file, trimmed, on every refresh: a rewritten file is the next token', async () => {
    const [first, second] = await tokenPair()
    await writeFile(path, `${first}\n`)
    const { fetchToken, reads } = counted(fileToken(path))
    const tokens = provider(fetchToken)
    expect(await tokens.getToken()).toBe(first)
    await writeFile(path, `  ${second}  \n`)
    expect(await tokens.getToken()).toBe(first)
    // A server rejected the token (a 401): the next getToken reads the file again.
    tokens.invalidate(first)
    expect(await tokens.getToken()).toBe(second)
    expect(reads()).toBe(2)
    expect(fetchToken.attach).toBeUndefined()
  })

  it('reads it again when the token expires', async () => {
    let now = Date.now()
    const first = await mint({ issuedAt: now, lifetimeMs: 60_000 })
    await writeFile(path, first)
    const tokens = provider(fileToken(pathToFileURL(path)), { now: () => now })
    expect(await tokens.getToken()).toBe(first)
    const second = await mint({ issuedAt: now + 60_000, lifetimeMs: 60_000 })
    await writeFile(path, second)
    now += 60_000
    expect(await tokens.getToken()).toBe(second)
  })

  it('fails clearly, and not terminally, for a missing, empty or unreadable file, naming the path only', async () => {
    const read = fileToken(path)
    const missing = await failure(read(context()))
    expect(missing.message).toBe(`fileToken: the token file ${path} does not exist`)
    expect([missing.code, missing.terminal]).toEqual(['ERR_TOKEN_SOURCE', false])

    await writeFile(path, ' \n\t')
    expect((await failure(read(context()))).message).toBe(`fileToken: the token file ${path} is empty`)

    const directory = await failure(fileToken(dir)(context()))
    expect(directory.message).toBe(`fileToken: the token file ${dir} could not be read (EISDIR)`)
    expect(directory.cause).toBeUndefined()

    await writeFile(path, 'not a token')
    const tokens = provider(fileToken(path))
    const error = await failure(tokens.getToken())
    expect(error.message).not.toContain('not a token')
    expect(tokens.state).not.toBe('failed')
  })

  it("rejects with the signal's reason when aborted", async () => {
    await writeFile(path, 'opaque')
    const controller = new AbortController()
    const reason = new Error('disposed')
    controller.abort(reason)
    await expect(fileToken(path)({ ...context(), signal: controller.signal })).rejects.toBe(reason)
  })

  it('with watch, pushes a rewritten token within about a second, without a refresh', async () => {
    const [first, second] = await tokenPair()
    await writeFile(path, first)
    const { fetchToken, reads } = counted(fileToken(path, { watch: true }))
    const tokens = provider(fetchToken)
    expect(await tokens.getToken()).toBe(first)
    const events = record(tokens, 'token')
    const started = performance.now()
    await writeFile(path, second)
    await vi.waitFor(() => expect(tokens.current?.accessToken).toBe(second), { timeout: 3_000, interval: 20 })
    // Generous: the poll interval (500 ms) plus the settle delay (100 ms), with room for a slow machine.
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(events.map((event) => event.reason)).toEqual(['push'])
    expect(reads()).toBe(1)
    expect(await tokens.getToken()).toBe(second)

    const probe = () => {}
    const watcher = watchFile(path, { persistent: false }, probe)
    expect(watcher.listenerCount('change')).toBe(2)
    tokens.dispose()
    expect(watcher.listenerCount('change')).toBe(1)
    unwatchFile(path, probe)
  })

  it('with watch, follows a Kubernetes-style atomic swap of the ..data symlink', async () => {
    const [first, second] = await tokenPair()
    await mkdir(join(dir, '..v1'))
    await writeFile(join(dir, '..v1', 'token'), first)
    await symlink('..v1', join(dir, '..data'))
    await symlink(join('..data', 'token'), path)
    const tokens = provider(fileToken(path, { watch: true, pollIntervalMs: 50 }))
    expect(await tokens.getToken()).toBe(first)

    await mkdir(join(dir, '..v2'))
    await writeFile(join(dir, '..v2', 'token'), second)
    await symlink('..v2', join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data'))
    await rm(join(dir, '..v1'), { recursive: true })
    await vi.waitFor(() => expect(tokens.current?.accessToken).toBe(second), { timeout: 3_000, interval: 20 })
  })

  it('with watch, leaves a token the provider refuses, or an unreadable file, for the next refresh', async () => {
    const [first, second] = await tokenPair()
    await writeFile(path, first)
    const tokens = provider(fileToken(path, { watch: true, pollIntervalMs: 20 }))
    const errors = record(tokens, 'error')
    expect(await tokens.getToken()).toBe(first)
    await writeFile(path, 'two words')
    await sleep(300)
    await writeFile(path, '')
    await sleep(300)
    await rm(path)
    await sleep(300)
    await writeFile(path, first)
    await sleep(300)
    expect(tokens.current?.accessToken).toBe(first)
    expect(errors).toEqual([])
    await writeFile(path, second)
    await vi.waitFor(() => expect(tokens.current?.accessToken).toBe(second), { timeout: 3_000, interval: 20 })
  })

  it('stops watching at disposal: no further pushes', async () => {
    const [first, second] = await tokenPair()
    await writeFile(path, 'opaque-0')
    const pushed: unknown[] = []
    const recorder = { setToken: (token: unknown) => pushed.push(token) > 0 } as unknown as TokenProvider
    const detach = fileToken(path, { watch: true, pollIntervalMs: 20 }).attach?.(recorder)
    // Node keeps one StatWatcher per path and hands it to every watchFile call: count its listeners.
    const probe = () => {}
    const watcher = watchFile(path, { persistent: false }, probe)
    expect(watcher.listenerCount('change')).toBe(2)
    await writeFile(path, first)
    await vi.waitFor(() => expect(pushed).toEqual([first]), { timeout: 3_000, interval: 20 })
    detach?.()
    expect(watcher.listenerCount('change')).toBe(1)
    unwatchFile(path, probe)
    await writeFile(path, second)
    await sleep(500)
    expect(pushed).toEqual([first])
  })

  it('cancels a push that was settling at disposal', async () => {
    await writeFile(path, 'opaque-0')
    const pushed: unknown[] = []
    const recorder = { setToken: (token: unknown) => pushed.push(token) > 0 } as unknown as TokenProvider
    const detach = fileToken(path, { watch: true, pollIntervalMs: 10 }).attach?.(recorder)
    await writeFile(path, 'opaque-1')
    await sleep(60)
    detach?.()
    await sleep(300)
    expect(pushed).toEqual([])
  })

  it('lets a process whose provider watches a token file exit on its own', async () => {
    await writeFile(path, await mint())
    const child = runNodeSync(['--import', 'tsx', fixture('watching-file-token.mts'), path], 15_000)
    expect(child.error).toBeUndefined()
    expect(child.signal).toBeNull()
    expect(child.stderr).toBe('')
    expect(child.stdout).toBe('fresh\n')
    expect(child.status).toBe(0)
  })

  it('validates its arguments, naming the option', () => {
    expect(() => fileToken(42 as never)).toThrow(new TypeError('fileToken: path must be a string or URL'))
    expect(() => fileToken('')).toThrow(new TypeError('fileToken: path must not be empty'))
    expect(() => fileToken(path, null as never)).toThrow(new TypeError('fileToken: options must be an object'))
    expect(() => fileToken(path, { watch: 'yes' as never })).toThrow(
      new TypeError('fileToken: watch must be a boolean'),
    )
    expect(() => fileToken(path, { pollIntervalMs: 0 })).toThrow(RangeError)
    expect(() => fileToken(path, { pollIntervalMs: Number.NaN })).toThrow(/pollIntervalMs/)
  })
})
