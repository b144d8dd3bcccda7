// The smoke test as a workerd Worker: the host sends `GET /?config=<json>` and gets the result as
// JSON. `./bundle.mjs` is the esbuild bundle of bundle-entry.mjs, listed beside this module in the
// generated capnp config.
import { run } from './bundle.mjs'

export default {
  async fetch(request) {
    const config = JSON.parse(new URL(request.url).searchParams.get('config'))
    return Response.json(await run(config))
  },
}
