import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

// The shape of src/ that issue 15 set: folders that import one way, and a provider that is only
// its state machine.

const src = resolve(__dirname, '../../src')

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )
}

/** The relative imports of a source file (value and type imports alike), resolved to src paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/from '(\.[^']+)'/g)].map((m) => relative(src, resolve(dirname(file), m[1] as string)))
}

/** A file's unit: its folder under src/, or the file itself at the top (the entries, errors.ts). */
const unitOf = (path: string) => (path.includes('/') ? (path.split('/')[0] as string) : path.replace(/\.js$/, '.ts'))

/** Every cycle between units, as "a > b > … > a" (each found once per starting unit). */
function folderCycles(): string[] {
  const edges = new Map<string, Set<string>>()
  for (const file of files(src)) {
    const from = unitOf(relative(src, file))
    for (const target of importsOf(file)) {
      const to = unitOf(target)
      if (from !== to) edges.set(from, (edges.get(from) ?? new Set()).add(to))
    }
  }
  const cycles = new Set<string>()
  const walk = (unit: string, path: string[]) => {
    if (path.includes(unit)) {
      const loop = path.slice(path.indexOf(unit))
      const start = loop.indexOf([...loop].sort()[0] as string)
      cycles.add([...loop.slice(start), ...loop.slice(0, start), loop[start]].join(' > '))
      return
    }
    for (const next of edges.get(unit) ?? []) walk(next, [...path, unit])
  }
  for (const unit of edges.keys()) walk(unit, [])
  return [...cycles].sort()
}

describe('the layout of src/', () => {
  it('has no import cycle between folders', () => {
    expect(folderCycles()).toEqual([])
  })

  it('keeps the provider a state machine: under 350 lines, nothing of the store protocol', () => {
    const provider = join(src, 'token/provider.ts')
    expect(readFileSync(provider, 'utf8').trimEnd().split('\n').length).toBeLessThan(350)
    const imports = importsOf(provider).map((path) => path.replace(/\.js$/, ''))
    expect(imports.filter((path) => /fleet|store/.test(path))).toEqual([])
  })
})
