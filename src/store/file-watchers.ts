import { type FSWatcher, watch } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { KeyedListeners } from '../internal/listeners.js'
import { clampDelay } from '../internal/timer.js'
import { readDocument } from './file-document.js'

/**
 * FileWatchers calls a key's listeners when the token stored for it changes, by any process. Two
 * sources wake it: `fs.watch` on the directory (the file is replaced by a rename, so watching the
 * file itself would stop at the first write), where the platform delivers its events, and a poll
 * every `pollMs`, because `fs.watch` is unreliable on network and container file systems and may
 * be unavailable (no inotify watches left). Either way the file is read and each watched key's
 * entry compared with the last one seen, so lease changes wake nobody. Both are unref'd.
 */
export class FileWatchers {
  readonly #path: string
  readonly #pollMs: number
  readonly #listeners = new KeyedListeners({
    onLast: (key) => {
      this.#seen.delete(key)
      if (this.#listeners.size === 0) this.close()
    },
  })
  /** The last entry seen for each watched key (its JSON); missing until the first read after `watch`. */
  readonly #seen = new Map<string, string | undefined>()
  #watcher: FSWatcher | undefined
  #poll: ReturnType<typeof setInterval> | undefined
  #checking = false
  #again = false
  /** The file's inode, size and modification time at the last read. */
  #version: string | undefined

  constructor(path: string, pollMs: number) {
    this.#path = path
    this.#pollMs = pollMs
  }

  /** watch calls `listener` when `key`'s token changes, until the returned function is called. */
  watch(key: string, listener: () => void): () => void {
    const stop = this.#listeners.add(key, listener)
    this.#start()
    return stop
  }

  /** close stops every listener, the file watcher and the poll. */
  close(): void {
    this.#listeners.clear()
    this.#seen.clear()
    this.#watcher?.close()
    this.#watcher = undefined
    clearInterval(this.#poll)
    this.#poll = undefined
  }

  #start(): void {
    if (this.#poll === undefined) {
      this.#poll = setInterval(() => this.#check(), clampDelay(this.#pollMs))
      this.#poll.unref()
    }
    this.#attach()
    this.#check()
  }

  // fs.watch needs the directory to exist; until it does (nothing stored yet), the poll alone serves.
  #attach(): void {
    if (this.#watcher !== undefined) return
    const name = basename(this.#path)
    try {
      const watcher = watch(dirname(this.#path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.#check()
      })
      watcher.on('error', () => {
        watcher.close()
        if (this.#watcher === watcher) this.#watcher = undefined
      })
      this.#watcher = watcher
    } catch {
      // No directory yet, or no watches left: the poll serves.
    }
  }

  #check(): void {
    if (this.#listeners.size === 0) return
    if (this.#checking) {
      this.#again = true
      return
    }
    this.#checking = true
    this.#attach()
    void this.#read()
      .then(
        (tokens) => {
          if (tokens !== undefined) this.#compare(tokens)
        },
        () => {}, // an unreadable file: `get` reports it to whoever reads it
      )
      .finally(() => {
        this.#checking = false
        if (this.#again) {
          this.#again = false
          this.#check()
        }
      })
  }

  // Each write renames a new file into place, so an unchanged inode, size and time mean an
  // unchanged file: a poll then costs one stat, not a read and a parse.
  async #read(): Promise<Record<string, unknown> | undefined> {
    const found = await stat(this.#path).catch(() => undefined)
    const version = found === undefined ? 'none' : `${found.ino}:${found.size}:${found.mtimeMs}`
    if (version === this.#version && this.#seen.size === this.#listeners.size) return undefined
    this.#version = version
    return (await readDocument(this.#path))?.tokens ?? {}
  }

  #compare(tokens: Record<string, unknown>): void {
    for (const key of [...this.#listeners.keys()]) {
      const entry = tokens[key] === undefined ? undefined : JSON.stringify(tokens[key])
      const known = this.#seen.has(key)
      const changed = known && this.#seen.get(key) !== entry
      this.#seen.set(key, entry)
      // A listener's failure is its own; the other listeners still hear of the change.
      if (changed) this.#listeners.notify(key)
    }
  }
}
