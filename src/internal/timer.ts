/** The longest delay `setTimeout` accepts; longer ones fire at once (and warn on Node). */
export const maxTimerDelayMs = 2 ** 31 - 1

/** clampDelay keeps a delay inside what `setTimeout` accepts: `[0, 2^31 − 1]` whole ms. */
export function clampDelay(ms: number): number {
  if (!(ms > 0)) return 0
  return Math.min(Math.ceil(ms), maxTimerDelayMs)
}

type Handle = ReturnType<typeof setTimeout>

/**
 * unrefTimer stops a timer from keeping the process alive, where the runtime can: Node and Bun
 * timers have `unref()`, Deno has `Deno.unrefTimer(id)`, browsers and Workers need nothing.
 */
export function unrefTimer(handle: Handle): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) {
    ;(handle as { unref(): void }).unref()
    return
  }
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno
  if (typeof handle === 'number') deno?.unrefTimer?.(handle)
}

/**
 * Timer is one timer that calls `callback` at an absolute time on the `now` clock. Every Timer of
 * this copy of the library shares one unref'd `setTimeout`, armed for the earliest of them: an idle
 * fleet of a hundred thousand scopes then holds a heap entry per timer instead of a runtime timer
 * object (about 220 bytes each on Node). Waits beyond 2^31 − 1 ms are chained: the shared timer
 * wakes early, finds nothing due, and waits again, so a 30-day wait neither overflows nor fires
 * at once.
 */
export class Timer {
  /** When to fire, on the `now` clock; `Infinity` when not set. */
  #at = Number.POSITIVE_INFINITY
  /** When to fire, on `Date.now()`, the clock of the shared timer. */
  due = Number.POSITIVE_INFINITY
  /** The position in the heap, or -1. */
  slot = -1
  readonly #now: () => number
  readonly #callback: () => void

  constructor(now: () => number, callback: () => void) {
    this.#now = now
    this.#callback = callback
  }

  /** The time the timer is set for, or `Infinity` when it is not set. */
  get at(): number {
    return this.#at
  }

  /** set (re)arms the timer for time `at`; `Infinity` or `NaN` clears it. */
  set(at: number): void {
    if (at === this.#at && this.slot >= 0) return
    this.clear()
    if (!(at < Number.POSITIVE_INFINITY)) return
    this.#at = at
    this.due = Date.now() + (at - this.#now())
    schedule(this)
  }

  /** clear cancels the timer. */
  clear(): void {
    this.#at = Number.POSITIVE_INFINITY
    if (this.slot >= 0) cancel(this)
  }

  /** Called by the shared timer when `due` has come. */
  fire(): void {
    this.#at = Number.POSITIVE_INFINITY
    this.#callback()
  }
}

// A binary min-heap of timers by `due`, and the one runtime timer armed for its root.
const heap: Timer[] = []
let handle: Handle | undefined
let armedFor = Number.POSITIVE_INFINITY

function schedule(timer: Timer): void {
  timer.slot = heap.length
  heap.push(timer)
  up(timer.slot)
  if (timer.due < armedFor) arm()
}

function cancel(timer: Timer): void {
  const slot = timer.slot
  timer.slot = -1
  const last = heap.pop() as Timer
  if (slot < heap.length) {
    heap[slot] = last
    last.slot = slot
    down(slot)
    up(slot)
  }
  if (heap.length === 0) arm()
}

function arm(): void {
  if (handle !== undefined) clearTimeout(handle)
  const first = heap[0]
  if (first === undefined) {
    handle = undefined
    armedFor = Number.POSITIVE_INFINITY
    return
  }
  armedFor = first.due
  handle = setTimeout(tick, clampDelay(first.due - Date.now()))
  unrefTimer(handle)
}

function tick(): void {
  handle = undefined
  armedFor = Number.POSITIVE_INFINITY
  const now = Date.now()
  for (let first = heap[0]; first !== undefined && first.due <= now; first = heap[0]) {
    cancel(first)
    try {
      first.fire()
    } catch (error) {
      // One owner's failure must not stop the others' timers.
      queueMicrotask(() => {
        throw error
      })
    }
  }
  if (handle === undefined) arm()
}

function up(slot: number): void {
  const timer = heap[slot] as Timer
  while (slot > 0) {
    const parent = (slot - 1) >> 1
    const above = heap[parent] as Timer
    if (above.due <= timer.due) break
    heap[slot] = above
    above.slot = slot
    slot = parent
  }
  heap[slot] = timer
  timer.slot = slot
}

function down(slot: number): void {
  const timer = heap[slot] as Timer
  for (;;) {
    let child = 2 * slot + 1
    if (child >= heap.length) break
    const right = child + 1
    if (right < heap.length && (heap[right] as Timer).due < (heap[child] as Timer).due) child = right
    const below = heap[child] as Timer
    if (timer.due <= below.due) break
    heap[slot] = below
    below.slot = slot
    slot = child
  }
  heap[slot] = timer
  timer.slot = slot
}

/** pendingTimers counts the timers set now (for tests and leak checks). */
export function pendingTimers(): number {
  return heap.length
}
