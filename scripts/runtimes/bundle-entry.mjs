// The smoke test with the built library, for runtimes that cannot resolve bare imports (workerd, a
// browser page): esbuild bundles this file, `dist/index.mjs` and ky, jose and mitt into one module.
import * as rc from '../../dist/index.mjs'
import { smoke } from './smoke.mjs'

/** run runs the smoke test with `config` (see smoke.mjs). */
export function run(config) {
  return smoke(rc, config)
}
