// The runtime matrix: the built package's smoke test (smoke.mjs) in every runtime we claim to support,
// against real servers in this process. Prints a table and exits non-zero if any runtime fails.
//
//   npm run test:runtimes                       every runtime
//   npm run test:runtimes -- bun deno           some of them (or RUNTIMES=bun,deno)
//
// Runtimes that are not on the machine are installed into .runtimes/ (git-ignored, kept between
// runs): Node 22 and 24 through `npx -y node@<major>`, Bun, Deno and workerd from their npm
// packages at pinned versions, and Debian's Chromium with apt-get when /usr/bin/chromium is missing.
import { execFile, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServers } from './servers.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const here = join(root, 'scripts', 'runtimes')
const cache = join(root, '.runtimes')
const work = join(cache, 'work')
const logs = join(cache, 'logs')

/** The npm packages of the runtimes that come from the registry, at the versions the matrix proves. */
const pinned = { bun: '1.4.4', deno: '2.9.6', workerd: '1.20261117.1' }
const chromiumFlags = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
/** Runs at once: this machine has 2 cores, and the runs are short. */
const concurrency = 2
const runTimeoutMs = 120_000
/** How long a process may live on after printing its result: longer means a ref'd timer or socket. */
const exitGraceMs = 10_000

const runtimes = [
  // Node 20 is the machine's own (the one running this script) where it is Node 20.
  { name: 'node@20', prepare: () => npxNode(20), run: runFile, version: /^20\./ },
  { name: 'node@22', prepare: () => npxNode(22), run: runFile, version: /^22\./ },
  { name: 'node@24', prepare: () => npxNode(24), run: runFile, version: /^24\./ },
  { name: 'bun', prepare: () => installed('bun'), run: runFile, version: exactly(pinned.bun) },
  { name: 'deno', prepare: () => installed('deno'), run: runFile, version: exactly(pinned.deno) },
  { name: 'workerd', prepare: () => installed('workerd'), run: runWorkerd },
  { name: 'chromium', prepare: chromium, run: runChromium },
]

const started = Date.now()
/** The one `npm install` of the pinned runtimes, shared by those that need it. */
let installing
/** Runtime processes still running: ended before this script exits. */
const children = new Set()
const wanted = selection()
mkdirSync(work, { recursive: true })
mkdirSync(logs, { recursive: true })
await build()
const bundle = wanted.some((runtime) => runtime.name === 'workerd' || runtime.name === 'chromium') ? bundled() : null
// Awaited by the runs that need it; a failure fails those runs, not the process.
bundle?.catch(() => {})
const servers = await startServers()
const gate = semaphore(concurrency)
let results
try {
  results = await Promise.all(wanted.map((runtime) => matrixRow(runtime)))
} finally {
  await servers.close()
}
report(results)
for (const child of children) child.kill('SIGKILL')
process.exit(results.every((result) => result.ok) ? 0 : 1)

/** matrixRow prepares one runtime (installing it if needed), then runs the smoke test in it. */
async function matrixRow(runtime) {
  const row = { name: runtime.name, version: '', checks: [], ok: false, setupMs: 0, runMs: 0 }
  const setupStarted = Date.now()
  let prepared
  try {
    prepared = await runtime.prepare()
  } catch (error) {
    row.setupMs = Date.now() - setupStarted
    row.failure = `setup: ${message(error)}`
    return row
  }
  row.setupMs = Date.now() - setupStarted
  const release = await gate()
  const runStarted = Date.now()
  try {
    const config = {
      run: runtime.name.replace(/[^a-z0-9]/g, ''),
      tokenUrl: servers.tokenUrl,
      apiUrl: servers.apiUrl,
      otherUrl: servers.otherUrl,
      issuer: servers.issuer,
      audience: servers.audience,
      redirects: runtime.name === 'chromium' ? 'platform' : 'library',
    }
    const result = await within(runTimeoutMs, `${runtime.name} gave no result`, runtime.run(prepared, config, runtime))
    row.version = prepared.version ?? result.version ?? ''
    row.checks = result.checks
    row.ok = result.ok && result.checks.every((entry) => entry.ok) && result.failure === undefined
    row.failure = result.failure
    // The version in the table is the one the runtime reports from inside: it must be the one meant.
    if (runtime.version && !runtime.version.test(row.version)) {
      row.ok = false
      row.failure ??= `version: ran ${row.version || 'an unknown version'}, not ${runtime.version}`
    }
  } catch (error) {
    row.failure = message(error)
  } finally {
    row.runMs = Date.now() - runStarted
    release()
  }
  return row
}

// --- preparing the runtimes -------------------------------------------------------------------

function selection() {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : (process.env.RUNTIMES?.split(',') ?? [])
  const chosen = names.map((name) => name.trim()).filter(Boolean)
  if (chosen.length === 0) return runtimes
  const unknown = chosen.filter((name) => !runtimes.some((runtime) => runtime.name === name))
  if (unknown.length > 0) {
    console.error(`unknown runtime ${unknown.join(', ')}; the runtimes: ${runtimes.map((r) => r.name).join(', ')}`)
    process.exit(2)
  }
  return runtimes.filter((runtime) => chosen.includes(runtime.name))
}

/**
 * build builds the package when dist/ is missing or older than a source file, with the script of
 * `npm run build` (tsup alone leaves out its ESM entry points), so the matrix tests what is published.
 */
async function build() {
  const output = join(root, 'dist', 'index.mjs')
  const newest = (dir) =>
    Math.max(
      ...readdirSync(dir, { withFileTypes: true }).map((entry) =>
        entry.isDirectory() ? newest(join(dir, entry.name)) : statSync(join(dir, entry.name)).mtimeMs,
      ),
    )
  if (existsSync(output) && statSync(output).mtimeMs >= newest(join(root, 'src'))) return
  console.log('building the package (dist/ is missing or older than src/)')
  await exec(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root })
}

/**
 * bundled bundles the smoke test with the built library, ky, jose and mitt into one ES module, for
 * workerd (which cannot resolve bare imports) and the browser page. Started once, awaited by both.
 */
async function bundled() {
  const esbuild = await import('esbuild')
  const outfile = join(work, 'bundle.mjs')
  await esbuild.build({
    entryPoints: [join(here, 'bundle-entry.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Keep `using` declarations as written: the runtime must parse them itself.
    target: 'esnext',
    outfile,
    logLevel: 'warning',
  })
  return outfile
}

/**
 * npxNode finds Node `major`: this process's own when it is that major, or else the one that
 * `npx -y node@<major>` fetches (npm caches it).
 */
async function npxNode(major) {
  if (process.versions.node.split('.')[0] === String(major)) return { command: process.execPath }
  const { stdout } = await exec('npx', ['-y', `node@${major}`, '-p', 'process.execPath'], {
    cwd: tmpdir(),
    timeout: 300_000,
  })
  const command = stdout.trim().split('\n').at(-1)
  if (!command || !existsSync(command)) throw new Error(`npx -y node@${major} printed no binary: ${stdout.trim()}`)
  return { command }
}

/**
 * installed finds the binary of a runtime from the npm registry in .runtimes/, installing the
 * pinned versions of all of them there once when one is missing or at another version.
 */
async function installed(name) {
  let binary = await findBinary(name)
  if (binary === undefined) {
    installing ??= installRuntimes()
    await installing
    binary = await findBinary(name)
  }
  if (binary === undefined) throw new Error(`${name}@${pinned[name]} installed, but no working binary was found`)
  return binary
}

async function installRuntimes() {
  const specs = Object.entries(pinned).map(([name, version]) => `${name}@${version}`)
  console.log(`installing ${specs.join(' ')} into .runtimes/`)
  await exec('npm', ['install', '--prefix', cache, '--no-audit', '--no-fund', ...specs], {
    cwd: cache,
    timeout: 300_000,
  })
}

/** findBinary returns `{command, version}` for a pinned runtime that is installed and runs, or undefined. */
async function findBinary(name) {
  const modules = join(cache, 'node_modules')
  const manifest = join(modules, name, 'package.json')
  if (!existsSync(manifest) || JSON.parse(readFileSync(manifest, 'utf8')).version !== pinned[name]) return undefined
  // The native binary in the platform package (@oven/bun-linux-x64, @deno/linux-x64-glibc,
  // @cloudflare/workerd-linux-64…) first: without the package's postinstall, npm's bin link is a
  // Node.js shim (workerd's does not pass on --control-fd's descriptor) or a placeholder (Bun's).
  // Bun's postinstall moves its binary out of the platform package: then the bin link is it.
  const platform = {
    bun: ['@oven', 'bun-', 'bin/bun'],
    deno: ['@deno', '', 'deno'],
    workerd: ['@cloudflare', 'workerd-', 'bin/workerd'],
  }
  const [scope, prefix, path] = platform[name]
  const candidates = []
  if (existsSync(join(modules, scope))) {
    for (const entry of readdirSync(join(modules, scope))) {
      if (entry.startsWith(prefix)) candidates.push(join(modules, scope, entry, path))
    }
  }
  candidates.push(join(modules, '.bin', name))
  for (const command of candidates) {
    if (!existsSync(command)) continue
    try {
      const version = await execFileText(command, ['--version'])
      if (version) return { command, version: name === 'workerd' ? `${pinned.workerd} (${version})` : undefined }
    } catch {
      // Not this one: a placeholder or another platform's binary.
    }
  }
  return undefined
}

/** chromium finds Debian's Chromium, installing it with apt-get when it is missing. */
async function chromium() {
  const command = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
  if (!existsSync(command)) {
    if (process.env.CHROMIUM_PATH !== undefined) throw new Error(`CHROMIUM_PATH ${command} does not exist`)
    const asRoot = process.getuid?.() === 0
    const sudo = asRoot ? [] : ['sudo', '-n']
    console.log(`installing Debian's chromium with ${asRoot ? '' : 'sudo '}apt-get`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const apt = async (args) => {
      // Wait for a dpkg lock that another apt run holds, rather than fail at once.
      const [command, ...rest] = [...sudo, 'apt-get', '-o', 'DPkg::Lock::Timeout=120', ...args]
      await exec(command, rest, { env, timeout: 300_000, log: join(logs, 'chromium-install.log') })
    }
    // A failed update (one unreachable list, say) may still leave lists that have chromium.
    await apt(['update', '-qq']).catch((error) =>
      console.log(`apt-get update failed, installing anyway: ${message(error)}`),
    )
    await apt(['install', '-y', '-qq', 'chromium'])
    if (!existsSync(command)) throw new Error(`apt-get installed chromium, but ${command} does not exist`)
  }
  return { command }
}

// --- running the smoke test ---------------------------------------------------------------------

/** runFile runs entry.mjs in a runtime that runs files (Node, Bun, Deno) and reads its result line. */
async function runFile(prepared, config, runtime) {
  const entry = relative(root, join(here, 'entry.mjs'))
  const json = JSON.stringify(config)
  const env = { ...process.env, NO_COLOR: '1' }
  let args
  if (runtime.name === 'bun') args = ['--no-install', entry, json]
  else if (runtime.name === 'deno') {
    // Network access to the servers only; modules load without --allow-read. Deno resolves ky, jose
    // and mitt from node_modules (package.json, no deno.json), and keeps its cache in .runtimes/.
    Object.assign(env, { DENO_DIR: join(cache, 'deno-dir'), DENO_NO_UPDATE_CHECK: '1' })
    args = ['run', '--no-prompt', '--no-lock', '--allow-net=127.0.0.1', entry, json]
  } else args = [entry, json]
  const log = join(logs, `${runtime.name.replace('@', '')}.log`)
  const child = track(spawn(prepared.command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }))
  const output = collect(child, log)
  const result = await new Promise((resolve, reject) => {
    let buffer = ''
    child.stdout.on('data', (chunk) => {
      buffer += chunk
      const line = buffer.split('\n').find((text) => text.startsWith('@@smoke '))
      if (line !== undefined && buffer.includes(`${line}\n`)) resolve(JSON.parse(line.slice('@@smoke '.length)))
    })
    child.on('error', reject)
    child.on('exit', (code, signal) =>
      reject(new Error(`exited (${signal ?? code}) without a result: ${tail(output.text())}`)),
    )
  })
  // The process must end on its own: the smoke test left a provider armed, and disposed the rest.
  const exit = await Promise.race([
    new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode)
      else child.on('exit', (code) => resolve(code))
    }),
    sleep(exitGraceMs).then(() => 'alive'),
  ])
  if (exit === 'alive') {
    child.kill('SIGKILL')
    result.failure = `the process stayed alive ${exitGraceMs / 1000} s after the smoke test (a ref'd timer or socket)`
  } else if (exit !== 0) result.failure = `exited with ${exit}: ${tail(output.text())}`
  else result.checks.push({ name: 'exits on its own', ok: true, ms: 0 })
  return result
}

/** runWorkerd serves worker.mjs with workerd and asks it to run the smoke test. */
async function runWorkerd(prepared, config) {
  const dir = join(work, 'workerd')
  mkdirSync(dir, { recursive: true })
  copyFileSync(await bundle, join(dir, 'bundle.mjs'))
  copyFileSync(join(here, 'worker.mjs'), join(dir, 'worker.mjs'))
  copyFileSync(join(here, 'workerd.capnp'), join(dir, 'config.capnp'))
  const child = track(
    spawn(prepared.command, ['serve', 'config.capnp', '--socket-addr', 'http=127.0.0.1:0', '--control-fd', '3'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    }),
  )
  const output = collect(child, join(logs, 'workerd.log'))
  try {
    const port = await new Promise((resolve, reject) => {
      let buffer = ''
      child.stdio[3].on('data', (chunk) => {
        buffer += chunk
        for (const line of buffer.split('\n')) {
          if (line.includes('"listen"')) resolve(JSON.parse(line).port)
        }
      })
      child.on('error', reject)
      child.on('exit', (code) => reject(new Error(`workerd exited (${code}): ${tail(output.text())}`)))
    })
    const response = await fetch(`http://127.0.0.1:${port}/?config=${encodeURIComponent(JSON.stringify(config))}`)
    if (!response.ok) throw new Error(`the worker answered ${response.status}: ${tail(await response.text())}`)
    return await response.json()
  } finally {
    child.kill()
  }
}

/** runChromium loads the bundle in a page on one loopback origin, against the servers on others. */
async function runChromium(prepared, config) {
  const { chromium } = await import('playwright-core')
  const code = readFileSync(await bundle)
  const page = createServer((request, response) => {
    if (request.url === '/bundle.mjs') {
      response.writeHead(200, { 'content-type': 'text/javascript' })
      response.end(code)
    } else {
      response.writeHead(200, { 'content-type': 'text/html' })
      response.end('<!doctype html><meta charset="utf-8"><title>refreshing-client smoke test</title>')
    }
  })
  await new Promise((resolve) => page.listen(0, '127.0.0.1', resolve))
  const messages = []
  // Playwright starts Chromium headless with a new, empty profile (--user-data-dir) of its own.
  const browser = await chromium.launch({ executablePath: prepared.command, args: chromiumFlags })
  try {
    const tab = await browser.newPage()
    tab.on('console', (entry) => messages.push(`console.${entry.type()}: ${entry.text()}`))
    tab.on('pageerror', (error) => messages.push(`page error: ${error.message}`))
    await tab.goto(`http://127.0.0.1:${page.address().port}/`)
    const result = await tab.evaluate(async (config) => (await import('/bundle.mjs')).run(config), config)
    writeFileSync(join(logs, 'chromium.log'), `${messages.join('\n')}\n`)
    return { ...result, version: browser.version() }
  } finally {
    await browser.close()
    page.closeAllConnections()
    page.close()
  }
}

// --- the report ----------------------------------------------------------------------------------

function report(rows) {
  const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
  const outcome = (row) => {
    if (!row.ok) {
      const failed = row.checks.filter((entry) => !entry.ok).map((entry) => entry.name)
      return `FAIL: ${[...failed, ...(row.failure ? [row.failure.split(':')[0]] : [])].join('; ')}`
    }
    const skipped = row.checks.filter((entry) => entry.skipped).length
    const passed = row.checks.length - skipped
    return `pass: ${passed} checks${skipped ? `, ${skipped} skipped` : ''}`
  }
  const table = [
    ['runtime', 'version', 'result', 'time', 'setup'],
    ...rows.map((row) => [row.name, row.version || '?', outcome(row), seconds(row.runMs), seconds(row.setupMs)]),
  ]
  const widths = table[0].map((_, column) => Math.max(...table.map((cells) => cells[column].length)))
  const line = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`
  console.log('')
  console.log(line(table[0]))
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`)
  for (const cells of table.slice(1)) console.log(line(cells))
  console.log('')
  for (const row of rows) {
    for (const entry of row.checks) {
      if (!entry.ok || entry.skipped || entry.detail) {
        const mark = !entry.ok ? 'FAILED' : entry.skipped ? 'skipped' : 'note'
        console.log(`${row.name}: ${entry.name}: ${mark}${entry.detail ? `: ${entry.detail}` : ''}`)
      }
    }
    if (row.failure) console.log(`${row.name}: FAILED: ${row.failure}`)
  }
  const passed = rows.filter((row) => row.ok).length
  console.log(`\nruntime matrix finished in ${seconds(Date.now() - started)}; logs in ${relative(root, logs)}/`)
  console.log(`runtimes: ${passed} passed, ${rows.length - passed} failed`)
}

// --- helpers -------------------------------------------------------------------------------------

function exec(command, args, { log, ...options } = {}) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      if (log) writeFileSync(log, `${stdout}${stderr}`, { flag: 'a' })
      if (error)
        reject(new Error(`${command} ${args.join(' ')} failed: ${tail(`${stdout}${stderr}`) || error.message}`))
      else resolve({ stdout, stderr })
    })
  })
}

function execFileText(command, args) {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))),
  )
}

/** track keeps `child` in `children` until it exits. */
function track(child) {
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

/** collect keeps a child's output, and writes it to `log` as it comes. */
function collect(child, log) {
  writeFileSync(log, '')
  let text = ''
  const keep = (chunk) => {
    text += chunk
    writeFileSync(log, chunk, { flag: 'a' })
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return { text: () => text }
}

function tail(text, lines = 15) {
  return text.trim().split('\n').slice(-lines).join('\n')
}

function message(error) {
  return error instanceof Error ? error.message : String(error)
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function exactly(version) {
  return new RegExp(`^${version.replace(/\./g, '\\.')}$`)
}

function within(ms, what, promise) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** semaphore lets `limit` holders at a time; `await gate()` returns the release function. */
function semaphore(limit) {
  let free = limit
  const waiting = []
  return () =>
    new Promise((resolve) => {
      const release = () => {
        const next = waiting.shift()
        if (next) next()
        else free++
      }
      if (free > 0) {
        free--
        resolve(release)
      } else waiting.push(() => resolve(release))
    })
}
