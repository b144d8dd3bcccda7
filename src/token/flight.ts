import { withSignal } from '../internal/signal.js'
import { maxTimerDelayMs } from '../internal/timer.js'
import { abortAfter } from '../internal/wait.js'

const noop = () => {}

/**
 * Flight is one refresh in progress: the work, bounded by a timeout, and what its callers await.
 * Its result goes through `settle`, which turns it into what callers get (the provider's success
 * and failure handling).
 */
export class Flight<R, T> {
  readonly promise: Promise<T>
  readonly #controller = new AbortController()
  readonly #cancelTimeout: () => void
  /** A ref'd timer held while a caller awaits this refresh, so the process cannot exit under it. */
  #keepAlive: ReturnType<typeof setTimeout> | undefined

  constructor(
    run: (signal: AbortSignal) => Promise<R>,
    timeoutMs: number,
    onTimeout: () => Error,
    settle: { ok(result: R): T; failed(error: unknown): Error },
  ) {
    const signal = this.#controller.signal
    this.#cancelTimeout = abortAfter(this.#controller, timeoutMs, onTimeout)
    // The work settles the flight, or an abort (timeout, disposal) does, whichever comes first.
    this.promise = withSignal(run(signal), signal).then(
      (result) => {
        this.#done()
        return settle.ok(result)
      },
      (error: unknown) => {
        this.#done()
        throw settle.failed(error)
      },
    )
  }

  /**
   * join is how a caller awaits the refresh: it holds the process open until it settles. Every
   * timer of ours is unref'd, so without this a one-shot script whose request waits out the
   * throttle or the store would exit with the request never sent. Background refreshes nobody
   * awaits hold nothing.
   */
  join(): Promise<T> {
    this.#keepAlive ??= setTimeout(noop, maxTimerDelayMs)
    return this.promise
  }

  /** abort ends the refresh with `reason`, at once. */
  abort(reason: Error): void {
    this.#done()
    this.#controller.abort(reason)
  }

  #done(): void {
    this.#cancelTimeout()
    clearTimeout(this.#keepAlive)
  }
}
