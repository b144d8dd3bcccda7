import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Some tests load the built package (two copies in one process, the packed entry points): build it if it is missing. */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  if (!existsSync(`${root}dist/index.mjs`) || !existsSync(`${root}dist/index.js`)) {
    execFileSync(process.execPath, [`${root}scripts/build.mjs`], { cwd: root, stdio: 'ignore' })
  }
}
