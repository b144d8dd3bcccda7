// Shared pieces of the benchmarks: statistics, result rows, progress lines and child processes.
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The repository root. */
export const root = fileURLToPath(new URL('../..', import.meta.url))

/** The built package, as the benchmarks import it. */
export const distEntry = pathToFileURL(`${root}dist/index.mjs`).href

/** median of a list of numbers (the mean of the two middle ones for an even count). */
export function median(values) {
  if (values.length === 0) throw new RangeError('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** rotate returns `list` starting at position `by`, so each round runs the variants in another order. */
export function rotate(list, by) {
  const start = by % list.length
  return [...list.slice(start), ...list.slice(0, start)]
}

/**
 * row makes one result: `baseline` is the value of the baseline measured in the same run
 * (the row's own value for a baseline row, `null` where there is none), `ratio` is value / baseline.
 * `key` is a stable identifier (`overhead.get.added`) that run.mjs matches targets by, so that a
 * row's wording can change without losing its target; `null` for a row without one.
 */
export function row(name, value, unit, baseline = null, key = null) {
  const ratio = baseline === null || baseline === 0 ? null : value / baseline
  return { key, name, value, unit, baseline, ratio }
}

/** log prints a progress line on stderr (stdout carries the results). */
export function log(message) {
  process.stderr.write(`[bench] ${message}\n`)
}

/** nowNs is a monotonic clock in nanoseconds, as a number. */
export function nowNs() {
  return Number(process.hrtime.bigint())
}

/** emit hands a suite's rows to the runner: one JSON line on stdout. */
export function emit(rows) {
  process.stdout.write(`${JSON.stringify(rows)}\n`)
}

/** runNode runs a Node script to completion and returns its stdout; stderr goes to ours. */
export function runNode(args, options = {}) {
  return execFileSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  })
}

/** runNodeAsync is {@link runNode} without blocking the event loop (a server of ours may be running in-process). */
export function runNodeAsync(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(out)
      else reject(new Error(`node ${args.join(' ')} exited with ${code}`))
    })
  })
}

/** lastJsonLine parses the last non-empty line of a child's stdout. */
export function lastJsonLine(stdout) {
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1])
}

/**
 * load sends `total` requests through `request`, `concurrency` at a time; returns req/s, this
 * process's CPU time per request in µs (user + system), and the failures.
 */
export async function load(request, total, concurrency) {
  let started = 0
  let failed = 0
  const worker = async () => {
    while (started < total) {
      started++
      if ((await request()) !== true) failed++
    }
  }
  const begin = performance.now()
  const cpu = process.cpuUsage()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const { user, system } = process.cpuUsage(cpu)
  const seconds = (performance.now() - begin) / 1000
  return { perSecond: total / seconds, cpuMicros: (user + system) / total, failed }
}
