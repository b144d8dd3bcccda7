// Checks that every export of every entry point has a doc comment with an `@example` holding a
// code block. TypeDoc's own `notDocumented` validation (the first half of `npm run docs:check`)
// only asks for a comment; this asks for the example too.
//
// It converts the entry points of typedoc.json with TypeDoc's API, serialises the project to
// TypeDoc's JSON, and walks the top-level exports of each entry point. A re-export of something
// another entry point already exports (`Lease` in `refreshing-client/redis`) is checked at its
// target. A comment counts whether it sits on the export or on one of its call signatures.
import { Application, ReflectionKind } from 'typedoc'

const root = new URL('..', import.meta.url).pathname

// Sources on, for file and line numbers in the report; git off, since only the paths matter here.
const app = await Application.bootstrapWithPlugins({
  logLevel: 'Error',
  disableSources: false,
  disableGit: true,
  sourceLinkTemplate: '{path}#L{line}',
})
const project = await app.convert()
if (project === undefined) {
  console.error('check-docs: TypeDoc could not convert the entry points')
  process.exit(1)
}
const json = app.serializer.projectToObject(project, root)

const byId = new Map()
const index = (reflection) => {
  byId.set(reflection.id, reflection)
  for (const child of reflection.children ?? []) index(child)
}
index(json)

// With several entry points the project's children are modules; with one, they are the exports.
const modules = json.children.every((child) => child.kind === ReflectionKind.Module) ? json.children : [json]

const hasSummary = (comment) => comment?.summary.some((part) => part.text.trim().length > 0) ?? false
const examples = (comment) => comment?.blockTags?.filter((tag) => tag.tag === '@example') ?? []
// TypeDoc wraps an example that has no code block in one, so the only useless example is an empty one.
const fenced = /^```[^\n]*\n?|```$/g
const hasCode = (tag) =>
  tag.content.some((part) => part.kind === 'code' && part.text.replace(fenced, '').trim().length > 0)

const problems = []
let checked = 0
for (const module of modules) {
  for (const child of module.children ?? []) {
    const target = child.kind === ReflectionKind.Reference ? byId.get(child.target) : child
    const where = `${module.name}: ${child.name}`
    if (target === undefined) {
      problems.push(`${where} re-exports something that is not documented in these entry points`)
      continue
    }
    checked++
    const comments = [target.comment, ...(target.signatures ?? []).map((signature) => signature.comment)]
    const source = target.sources?.[0] ?? target.signatures?.[0]?.sources?.[0]
    const kind = ReflectionKind.singularString(target.kind).toLowerCase()
    const at = source === undefined ? ` (${kind})` : ` (${kind}, ${source.fileName}:${source.line})`
    if (!comments.some(hasSummary)) {
      problems.push(`${where}${at}: no doc comment`)
      continue
    }
    const tags = comments.flatMap(examples)
    if (tags.length === 0) problems.push(`${where}${at}: no @example`)
    else if (!tags.some(hasCode)) problems.push(`${where}${at}: an empty @example`)
  }
}

if (problems.length > 0) {
  console.error(`check-docs: ${problems.length} of ${checked} exports are not documented with an example:`)
  for (const problem of problems) console.error(`  ${problem}`)
  console.error('Give each a TSDoc comment with an @example holding a ```ts block (see STYLE.md).')
  process.exit(1)
}
console.log(`check-docs: all ${checked} exports have a doc comment and an @example`)
