/**
 * `Symbol.dispose`, or the key that TypeScript's and esbuild's `using` helpers fall back to on
 * runtimes that lack it. We never polyfill the global.
 */
export const disposeSymbol: typeof Symbol.dispose =
  (Symbol as { dispose?: typeof Symbol.dispose }).dispose ?? (Symbol.for('Symbol.dispose') as typeof Symbol.dispose)

/** aliasDispose makes `[Symbol.dispose]()` call `dispose()` on every instance of `target`. */
export function aliasDispose(target: { prototype: { dispose(): void } }): void {
  Object.defineProperty(target.prototype, disposeSymbol, {
    configurable: true,
    writable: true,
    value(this: { dispose(): void }) {
      this.dispose()
    },
  })
}

/** Something `disposeAll` can release: a `Disposable` or a cleanup function. */
export type DisposableLike = Disposable | { dispose(): void } | (() => void)

/** release calls the cleanup of one resource. */
export function release(resource: DisposableLike): void {
  if (typeof resource === 'function') resource()
  else if (typeof (resource as { dispose?: unknown }).dispose === 'function')
    (resource as { dispose(): void }).dispose()
  else (resource as Disposable)[disposeSymbol]()
}

/**
 * disposeAll releases `resources` last-in first-out, keeps going when one throws, and then throws
 * the one error, or an `AggregateError` of several.
 */
export function disposeAll(resources: readonly DisposableLike[], what: string): void {
  const errors: unknown[] = []
  for (let i = resources.length - 1; i >= 0; i--) {
    try {
      release(resources[i] as DisposableLike)
    } catch (error) {
      errors.push(error)
    }
  }
  if (errors.length === 1) throw errors[0]
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} resources of ${what} failed to dispose`)
}
