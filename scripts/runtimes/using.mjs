// `using` declarations, in a module of their own: a runtime without the syntax fails to load this
// module (a SyntaxError the smoke test reports as a skip) instead of the whole smoke script.

/** usingCheck disposes a provider with a `using` declaration: its states inside and after the block. */
export function usingCheck(rc) {
  let provider
  let disposedBy
  {
    using scoped = rc.createTokenProvider({ initialToken: 'opaque' })
    provider = scoped
    disposedBy = scoped.state
  }
  return { disposedBy, disposedAfter: provider.state }
}
