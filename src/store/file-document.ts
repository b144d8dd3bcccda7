import { randomUUID } from 'node:crypto'
import { lstatSync } from 'node:fs'
import { lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { AuthError } from '../errors.js'
import { codeOf } from '../internal/describe.js'
import { isRecord } from '../internal/guards.js'

/** A lease in the store file: its owner (a random id) and when it runs out, epoch ms. */
interface FileLease {
  owner: string
  until: number
}

/**
 * StoreDocument is the whole store file: each key's token envelope (as the token codec writes it,
 * times in the clear, the token plain or sealed) and each key's lease.
 */
export interface StoreDocument {
  v: 1
  tokens: Record<string, unknown>
  leases: Record<string, FileLease>
}

/** emptyDocument is a store file with nothing in it. */
export function emptyDocument(): StoreDocument {
  return { v: 1, tokens: {}, leases: {} }
}

/**
 * readDocument reads and checks the store file: `undefined` when there is none yet, an `AuthError`
 * `ERR_STORE_UNREADABLE` when it is not a store file (its message never quotes the content).
 */
export async function readDocument(path: string): Promise<StoreDocument | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return undefined
    if (codeOf(error) === 'EISDIR') throw refused(path, 'is a directory')
    throw new AuthError(`file token store: could not read ${path} (${codeOf(error) ?? 'error'})`, {
      code: 'ERR_STORE',
    })
  }
  return parseDocument(text, path)
}

/** parseDocument checks the text of a store file (see {@link readDocument}). */
function parseDocument(text: string, path: string): StoreDocument {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw unreadable(path, 'is not JSON')
  }
  const document = value as Partial<StoreDocument> | null
  if (
    typeof document !== 'object' ||
    document === null ||
    document.v !== 1 ||
    !isRecord(document.tokens) ||
    !isRecord(document.leases)
  ) {
    throw unreadable(path, 'is not a token store file')
  }
  return document as StoreDocument
}

/**
 * writeDocument replaces the store file atomically: the document goes to a temporary file in the
 * same directory (created 0600, so the token is never readable by others, not even for a moment),
 * is flushed to disk (`fsync`), then renamed over the store file. A reader sees the old file or the
 * new one, never a torn one; a crash at any point leaves the old file, or the new one, whole.
 */
export async function writeDocument(path: string, document: StoreDocument): Promise<void> {
  await checkTarget(path)
  const temporary = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`)
  const handle = await open(temporary, 'wx', 0o600)
  try {
    try {
      await handle.writeFile(JSON.stringify(document))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
  } catch (error) {
    await unlink(temporary).catch(() => {})
    throw error
  }
}

/**
 * prepareDirectory creates the store file's directory (0700, parents included) if it is missing.
 * An existing directory keeps its mode: it is the caller's.
 */
export async function prepareDirectory(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
}

/**
 * checkTarget refuses to replace what is not a store file: a directory, or a symbolic link (a rename
 * would replace the link itself, and the file it points to is another program's).
 */
async function checkTarget(path: string): Promise<void> {
  try {
    const found = await lstat(path)
    if (found.isDirectory()) throw refused(path, 'is a directory')
    if (found.isSymbolicLink()) throw refused(path, 'is a symbolic link')
    if (!found.isFile()) throw refused(path, 'is not a regular file')
  } catch (error) {
    if (codeOf(error) !== 'ENOENT') throw error
  }
}

function refused(path: string, why: string): AuthError {
  return new AuthError(`file token store: ${path} ${why}; the store keeps its tokens in a file of its own`, {
    code: 'ERR_STORE',
  })
}

function unreadable(path: string, why: string): AuthError {
  return new AuthError(`file token store: ${path} ${why}; the next token stored replaces it`, {
    code: 'ERR_STORE_UNREADABLE',
  })
}

/**
 * checkPath refuses a directory or a symbolic link at once, so that a mistyped path is a construction
 * error (a `TypeError`); {@link checkTarget} checks again before each write.
 */
export function checkPath(path: string): void {
  try {
    const found = lstatSync(path)
    if (found.isDirectory()) throw new TypeError(`path ${path} is a directory; give the path of a file`)
    if (found.isSymbolicLink()) throw new TypeError(`path ${path} is a symbolic link; give the file's real path`)
  } catch (error) {
    if (error instanceof TypeError) throw error
  }
}

/**
 * pruneDocument drops expired leases, and expired records that carry no refresh token. A sealed
 * record does not show whether it carries one: it stays until the next `set` of its key replaces it.
 */
export function pruneDocument(document: StoreDocument, now: number): void {
  for (const [key, lease] of Object.entries(document.leases)) if (!(lease.until > now)) delete document.leases[key]
  for (const [key, entry] of Object.entries(document.tokens)) {
    const stored = entry as { e?: unknown; c?: unknown; t?: { refreshToken?: unknown } }
    const plainWithout = stored.c === undefined && stored.t?.refreshToken === undefined
    if (plainWithout && typeof stored.e === 'number' && stored.e <= now) delete document.tokens[key]
  }
}
