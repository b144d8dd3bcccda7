import { randomUUID } from 'node:crypto'
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { AuthError } from '../errors.js'
import { codeOf } from '../internal/describe.js'
import { delay } from '../internal/wait.js'

/** Who holds a write lock: written into the lock file, so that others can tell a dead holder. */
interface Owner {
  id: string
  pid: number
  host: string
  /** When it was taken, epoch ms. */
  at: number
}

/** FileLockOptions say where the lock lives and how long to wait for it. */
export interface FileLockOptions {
  /** The lock file, next to the store file. */
  readonly path: string
  /** A lock older than this is broken, whoever holds it (a holder on another host, a reused pid). */
  readonly staleMs: number
  /** How long to wait for a live holder before giving up with `ERR_STORE`. */
  readonly waitMs: number
}

/**
 * withFileLock runs `run` while holding an exclusive lock: a file created with `open(…, 'wx')`
 * (atomic on every local file system) that records its owner. The lock guards a read-modify-write
 * of a few milliseconds, so a holder that is gone is detected rather than waited for:
 * - on this host, a holder whose pid no longer runs (killed with SIGKILL) is broken at once;
 * - otherwise a lock older than `staleMs` is broken.
 * A lock is released only by the owner that took it, so a holder whose lock was broken (it hung
 * past `staleMs`) never frees the next holder's.
 */
export async function withFileLock<T>(options: FileLockOptions, run: () => Promise<T>): Promise<T> {
  const id = await take(options)
  try {
    return await run()
  } finally {
    await give(options.path, id)
  }
}

async function take({ path, staleMs, waitMs }: FileLockOptions): Promise<string> {
  const owner: Owner = { id: randomUUID(), pid: process.pid, host: hostname(), at: Date.now() }
  const deadline = owner.at + waitMs
  for (let pause = 1; ; pause = Math.min(pause * 2, 16)) {
    try {
      const handle = await open(path, 'wx', 0o600)
      try {
        await handle.writeFile(JSON.stringify({ ...owner, at: Date.now() }))
      } finally {
        await handle.close()
      }
      return owner.id
    } catch (error) {
      if (codeOf(error) !== 'EEXIST') throw error
    }
    if (await breakIfStale(path, staleMs)) continue
    if (Date.now() >= deadline) {
      throw new AuthError(`file token store: the write lock ${path} is held by another process (waited ${waitMs} ms)`, {
        code: 'ERR_STORE',
      })
    }
    await delay(pause, { keepAlive: true }) // a caller awaits this store call; `waitMs` bounds it
  }
}

async function give(path: string, id: string): Promise<void> {
  const owner = parseOwner(await readFile(path, 'utf8').catch(() => ''))
  if (owner?.id === id) await unlink(path).catch(() => {})
}

/**
 * breakIfStale removes a lock left by a dead or hung holder; returns whether the lock is gone. The
 * lock is first moved aside under a unique name, so that of several processes breaking it at once
 * only one moves it; if what was moved is not what was judged stale (a new holder took the lock in
 * between), it is put back unless yet another holder has taken the place.
 */
async function breakIfStale(path: string, staleMs: number): Promise<boolean> {
  let text: string
  let changedAt: number
  try {
    text = await readFile(path, 'utf8')
    changedAt = (await stat(path)).mtimeMs
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return true
    throw error
  }
  // An empty record is a lock being written right now: only its age can make it stale.
  const owner = parseOwner(text)
  const dead = owner !== undefined && owner.host === hostname() && !running(owner.pid)
  if (!dead && Date.now() - (owner?.at ?? changedAt) < staleMs) return false
  const aside = `${path}.${randomUUID()}.stale`
  try {
    await rename(path, aside)
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return true
    throw error
  }
  const moved = await readFile(aside, 'utf8').catch(() => text)
  if (moved !== text) await link(aside, path).catch(() => {})
  await unlink(aside).catch(() => {})
  return true
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return codeOf(error) === 'EPERM'
  }
}

function parseOwner(text: string): Owner | undefined {
  try {
    const value = JSON.parse(text) as Partial<Owner> | null
    if (
      typeof value?.id === 'string' &&
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.at === 'number'
    ) {
      return value as Owner
    }
  } catch {
    // A lock being written: judged by its file's age.
  }
  return undefined
}
