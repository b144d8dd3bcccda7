import { afterEach, describe, expect, it, vi } from 'vitest'
import { clampDelay, maxTimerDelayMs, pendingTimers, Timer, unrefTimer } from '../../src/internal/timer.js'

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('Timer', () => {
  it('chains a wait longer than 2^31 − 1 ms and fires once, on time', async () => {
    vi.useFakeTimers({ now: 0 })
    const fired: number[] = []
    const timer = new Timer(Date.now, () => fired.push(Date.now()))
    const at = 3 * maxTimerDelayMs + 5
    timer.set(at)
    await vi.advanceTimersByTimeAsync(at - 1)
    expect(fired).toEqual([])
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(fired).toEqual([at])
    expect(timer.at).toBe(Number.POSITIVE_INFINITY)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('re-arms, keeps an identical setting, and clears', async () => {
    vi.useFakeTimers({ now: 0 })
    let fired = 0
    const timer = new Timer(Date.now, () => fired++)
    timer.set(100)
    timer.set(100)
    expect(vi.getTimerCount()).toBe(1)
    timer.set(50)
    expect(timer.at).toBe(50)
    timer.set(Number.NaN)
    expect(vi.getTimerCount()).toBe(0)
    timer.set(10)
    timer.clear()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(fired).toBe(0)
  })

  it('clamps delays into [0, 2^31 − 1] whole milliseconds', () => {
    expect([-5, Number.NaN, 0, 0.2, 10, 2 ** 40, Number.POSITIVE_INFINITY].map(clampDelay)).toEqual([
      0,
      0,
      0,
      1,
      10,
      maxTimerDelayMs,
      maxTimerDelayMs,
    ])
  })

  it("unrefs Node's timers, and Deno's numeric ones through Deno.unrefTimer", () => {
    const handle = setTimeout(() => {}, 1_000)
    unrefTimer(handle)
    expect(handle.hasRef()).toBe(false)
    clearTimeout(handle)
    const unrefs: number[] = []
    vi.stubGlobal('Deno', { unrefTimer: (id: number) => unrefs.push(id) })
    unrefTimer(42 as never)
    expect(unrefs).toEqual([42])
  })
})

describe('the shared timer', () => {
  it('fires every timer once, at its time, in order, whatever is set and cleared in between', async () => {
    const fc = (await import('fast-check')).default
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 10_000 }),
            clear: fc.boolean(),
            reset: fc.integer({ min: -1, max: 10_000 }),
          }),
          {
            maxLength: 40,
          },
        ),
        async (plans) => {
          vi.useFakeTimers({ now: 0 })
          const fired: [number, number][] = []
          const timers = plans.map((plan, i) => {
            const timer = new Timer(Date.now, () => fired.push([i, Date.now()]))
            timer.set(plan.at)
            return timer
          })
          const expected: [number, number][] = []
          plans.forEach((plan, i) => {
            const timer = timers[i] as Timer
            if (plan.clear) timer.clear()
            else if (plan.reset >= 0) {
              timer.set(plan.reset)
              expected.push([i, plan.reset])
            } else expected.push([i, plan.at])
          })
          await vi.advanceTimersByTimeAsync(10_001)
          expect(fired.map(([, at]) => at)).toEqual([...fired.map(([, at]) => at)].sort((a, b) => a - b))
          expect([...fired].sort((a, b) => a[0] - b[0])).toEqual(expected)
          expect(pendingTimers()).toBe(0)
          expect(vi.getTimerCount()).toBe(0)
          vi.useRealTimers()
        },
      ),
      { numRuns: 300 },
    )
  })
})
