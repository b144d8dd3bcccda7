// The runtime matrix's smoke test: one script, run as is in every runtime (Node, Bun, Deno, workerd,
// a browser). Plain ESM and web APIs only; the library comes in as `rc`, the servers' URLs in
// `config`. Counts come from the servers, not from the library's own word.

/**
 * smoke runs every check and returns what it found: `{ runtime, version, ok, checks }`, each
 * check `{ name, ok, skipped?, detail?, ms }`. It never throws.
 *
 * `config`: `{ run, tokenUrl, apiUrl, otherUrl, issuer, audience, redirects }`, where `run` names
 * this runtime's identities on the servers and `redirects` says who follows redirects here:
 * `'library'` (Node, Bun, Deno, workerd) or `'platform'` (a browser, where manual redirects are opaque).
 */
export async function smoke(rc, config) {
  const { run, tokenUrl, apiUrl, otherUrl } = config
  const runtime = describeRuntime()
  const checks = []
  const check = async (name, body) => {
    const started = Date.now()
    try {
      const outcome = await within(20_000, name, body())
      checks.push({ name, ok: true, ...(outcome ?? {}), ms: Date.now() - started })
    } catch (error) {
      checks.push({ name, ok: false, detail: describeError(error), ms: Date.now() - started })
    }
  }
  const url = (base, path) => `${base}/r/${run}/${path}`
  const stats = async () => {
    const [token, api, other] = await Promise.all(
      [tokenUrl, apiUrl, otherUrl].map((base) => getJson(`${base}/stats?run=${encodeURIComponent(run)}`)),
    )
    return { token, api, other }
  }
  const fetchToken = (sub, ttl = 600) => {
    let calls = 0
    const fetchToken = async ({ signal }) => {
      calls++
      const body = await getJson(`${tokenUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sub, ttl }),
        signal,
      })
      return body.access_token // a JWT: the provider reads its expiry from `exp`
    }
    return Object.assign(fetchToken, { calls: () => calls })
  }
  const mint = async (sub, ttl) =>
    (
      await getJson(`${tokenUrl}/mint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sub, ttl }),
      })
    ).token

  await check('provider: fetchToken, getToken', async () => {
    const before = await stats()
    const source = fetchToken(`${run}.agent`, 600)
    const provider = rc.createTokenProvider({ name: `${run}.agent`, fetchToken: source })
    try {
      const [a, b, set] = await Promise.all([provider.getToken(), provider.getToken(), provider.getTokenSet()])
      expect(a === b && b === set.accessToken, 'concurrent getToken() calls got different tokens')
      expect(claims(a).sub === `${run}.agent`, `the token is for ${claims(a).sub}`)
      const left = set.expiresAt - Date.now()
      expect(left > 590_000 && left <= 600_000, `expiresAt is ${left} ms away, not about 600 s`)
      expect(provider.state === 'fresh', `state is ${provider.state}`)
      expect((await provider.getToken()) === a, 'a fresh token was replaced')
      const after = await stats()
      expect(delta(before.token, after.token, 'token') === 1, 'the token server did not see exactly one fetch')
      expect(source.calls() === 1, `fetchToken ran ${source.calls()} times`)
    } finally {
      provider.dispose()
    }
  })

  await check('client: one retry on 401', async () => {
    const source = fetchToken(`${run}.client`)
    const client = new rc.RefreshingClient({ tokens: { fetchToken: source }, baseUrl: apiUrl })
    try {
      let retries = 0
      client.on('retry', () => retries++)
      const first = await client.fetch(url(apiUrl, 'whoami'))
      expect(first.status === 200, `the first request got ${first.status}`)
      const revokedJti = (await first.json()).jti
      await getJson(`${apiUrl}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: client.tokens.current.accessToken }),
      })
      const before = await stats()
      // A body that must be replayed on the retry.
      const response = await client.fetch(url(apiUrl, 'whoami'), {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'replayed body',
      })
      const body = await response.json()
      const after = await stats()
      expect(response.status === 200, `the final status is ${response.status}`)
      expect(body.jti !== revokedJti, 'the retry carried the revoked token')
      expect(body.body === 'replayed body', `the retry's body was ${JSON.stringify(body.body)}`)
      const hits = delta(before.api, after.api, 'whoami')
      const fetched = delta(before.token, after.token, 'token')
      expect(hits === 2 && fetched === 1, `API hits ${hits} (want 2), token fetches ${fetched} (want 1)`)
      expect(retries === 1, `${retries} retry events`)
      const json = await client.ky.post(`r/${run}/whoami`, { json: { via: 'ky' } }).json()
      expect(json.sub === `${run}.client` && json.body === '{"via":"ky"}', `ky got ${JSON.stringify(json)}`)
    } finally {
      client.dispose()
    }
  })

  await check('source: clientCredentials (ky)', async () => {
    const before = await stats()
    const provider = rc.createTokenProvider({
      fetchToken: rc.clientCredentials({
        tokenUrl: `${tokenUrl}/oauth2/token`,
        clientId: `${run}.service`,
        clientSecret: 'smoke-secret',
      }),
    })
    try {
      const token = await provider.getToken()
      expect(claims(token).sub === `${run}.service`, `the token is for ${claims(token).sub}`)
      const after = await stats()
      expect(delta(before.token, after.token, 'grant') === 1, 'the token server did not see exactly one grant')
    } finally {
      provider.dispose()
    }
  })

  await check('client: CrossOriginError', async () => {
    const client = new rc.RefreshingClient({ tokens: { fetchToken: fetchToken(`${run}.cross`) }, baseUrl: apiUrl })
    const before = await stats()
    try {
      const error = await client.fetch(url(otherUrl, 'echo')).then(
        () => undefined,
        (error) => error,
      )
      expect(error instanceof rc.CrossOriginError, `got ${describeError(error)}, not a CrossOriginError`)
      expect(rc.isAuthError(error, 'ERR_CROSS_ORIGIN'), 'isAuthError(error, "ERR_CROSS_ORIGIN") is false')
      const after = await stats()
      expect(delta(before.other, after.other, 'echo') === 0, 'the other origin was called')
      expect(delta(before.token, after.token, 'token') === 0, 'a token was fetched for a refused request')
    } finally {
      client.dispose()
    }
  })

  await check('client: redirects drop the token across origins', async () => {
    // Where the library follows redirects itself, a custom header must stay behind too (runtimes
    // strip only `Authorization`). In a browser the platform follows them, and only drops
    // `Authorization`: that is what is checked there.
    const platform = config.redirects === 'platform'
    const client = new rc.RefreshingClient({
      tokens: { fetchToken: fetchToken(`${run}.redirect`) },
      baseUrl: apiUrl,
      ...(platform ? {} : { authorize: (headers, token) => headers.set('x-api-key', token) }),
    })
    try {
      const same = await client.fetch(url(apiUrl, `redirect?to=${encodeURIComponent(`/r/${run}/whoami`)}`))
      expect(same.status === 200, `a same-origin redirect ended with ${same.status}`)
      expect((await same.json()).sub === `${run}.redirect`, 'the same-origin hop lost the token')
      const before = await stats()
      const cross = await client.fetch(url(apiUrl, `redirect?to=${encodeURIComponent(url(otherUrl, 'echo'))}`))
      const seen = await cross.json()
      const after = await stats()
      expect(cross.status === 200 && delta(before.other, after.other, 'echo') === 1, 'the other origin was not reached')
      expect(!seen.apiKey && !seen.authorization, `the other origin received ${JSON.stringify(seen)}`)
      expect(cross.redirected === true && cross.url.startsWith(otherUrl), 'the response does not say it was redirected')
      if (platform) return { detail: 'followed by the platform: Authorization checked (a custom header is not)' }
    } finally {
      client.dispose()
    }
  })

  await check('registry: scopes, heartbeat, dispose()', async () => {
    const registry = rc.createRegistry()
    const a = registry.scope(`${run}.a`, { fetchToken: fetchToken(`${run}.a`) })
    const b = registry.scope(`${run}.b`, { fetchToken: fetchToken(`${run}.b`) })
    expect(registry.size === 2 && registry.scope(`${run}.a`) === a, 'scope() did not get or create')
    const clientA = a.client({ baseUrl: apiUrl })
    const clientB = b.client({ baseUrl: apiUrl })
    const [whoA, whoB] = await Promise.all([
      clientA.fetch(url(apiUrl, 'whoami')).then((response) => response.json()),
      clientB.fetch(url(apiUrl, 'whoami')).then((response) => response.json()),
    ])
    expect(whoA.sub === `${run}.a` && whoB.sub === `${run}.b`, 'a scope used another scope’s token')
    const heartbeat = a.heartbeat({ url: url(apiUrl, 'beat'), intervalMs: 100, jitterRatio: 0 })
    const beat = await new Promise((resolve) => heartbeat.on('beat', resolve))
    expect(beat.ok && heartbeat.ok >= 1, `the heartbeat's first beat: ${JSON.stringify(beat)}`)
    a.dispose()
    const sent = heartbeat.sent
    expect(registry.size === 1 && !registry.has(`${run}.a`) && a.disposed, 'a disposed scope stayed in the registry')
    registry.dispose()
    expect(registry.size === 0 && b.disposed && [...registry.ids()].length === 0, `size ${registry.size} after dispose`)
    const error = await clientB.fetch(url(apiUrl, 'whoami')).then(
      () => undefined,
      (error) => error,
    )
    expect(rc.isAuthError(error, 'ERR_DISPOSED'), `a disposed scope's client answered ${describeError(error)}`)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(heartbeat.sent === sent, 'the heartbeat went on after dispose()')
  })

  await check('push handler: Request -> Response', async () => {
    const registry = rc.createRegistry()
    const jwks = await getJson(`${tokenUrl}/jwks`)
    const handler = rc.createTokenPushHandler({
      registry,
      scopeId: (request) => new URL(request.url).pathname.match(/^\/agents\/([^/]+)\/token$/)?.[1],
      verify: { key: jwks, issuer: config.issuer, audience: config.audience, algorithms: ['ES256'] },
    })
    const push = (id, body, init = {}) =>
      handler(
        new Request(`http://push.invalid/agents/${id}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
          ...init,
        }),
      )
    try {
      const id = `${run}.pushed`
      const scope = registry.scope(id) // push-only: no fetchToken
      const other = registry.scope(`${run}.neighbour`)
      const token = await mint(id, 900)
      const applied = await push(id, { token })
      expect(applied.status === 204, `a valid push got ${applied.status}: ${await applied.text()}`)
      const who = await (await scope.client({ baseUrl: apiUrl }).fetch(url(apiUrl, 'whoami'))).json()
      expect(who.jti === claims(token).jti, 'the scope did not use the pushed token')
      const [header, payload] = token.split('.')
      const refusals = {
        405: await handler(new Request(`http://push.invalid/agents/${id}/token`)),
        415: await push(id, { token }, { headers: { 'content-type': 'text/plain' } }),
        400: await push(id, '{"token": 42}'),
        404: await push(`${run}.nobody`, { token }),
        401: await push(id, { token: `${header}.${payload}.${'A'.repeat(86)}` }),
        403: await push(other.id, { token: await mint(id, 1200) }),
        409: await push(id, { token }),
      }
      for (const [status, response] of Object.entries(refusals)) {
        const body = await response.json().catch(() => ({}))
        expect(String(response.status) === status, `wanted ${status}, got ${response.status} ${JSON.stringify(body)}`)
        expect(typeof body.error === 'string', `a ${status} without a JSON error`)
      }
      expect(
        scope.tokens.current.accessToken === token && other.tokens.current === undefined,
        'a refusal changed a token',
      )
    } finally {
      registry.dispose()
    }
  })

  await check('Symbol.dispose', async () => {
    const native = typeof Symbol.dispose === 'symbol'
    const key = native ? Symbol.dispose : Symbol.for('Symbol.dispose')
    const provider = rc.createTokenProvider({ initialToken: 'opaque' })
    const client = new rc.RefreshingClient({ tokens: provider, baseUrl: apiUrl })
    const registry = rc.createRegistry()
    registry.scope('x')
    for (const disposable of [client, provider, registry]) {
      expect(typeof disposable[key] === 'function', `${disposable.constructor.name} has no [Symbol.dispose]`)
      disposable[key]()
    }
    expect(provider.state === 'disposed' && registry.size === 0, 'the dispose symbol did not dispose')
    // Worth a note only where the runtime lacks the symbol (see src/internal/dispose.ts).
    if (!native) return { detail: "no Symbol.dispose: the library keyed it Symbol.for('Symbol.dispose')" }
  })

  await check('using declarations', async () => {
    let module
    try {
      module = await import('./using.mjs')
    } catch (error) {
      if (error?.name !== 'SyntaxError') throw error
      return { skipped: true, detail: 'this runtime has no `using` syntax' }
    }
    const { disposedBy, disposedAfter } = module.usingCheck(rc)
    expect(disposedBy !== 'disposed' && disposedAfter === 'disposed', `states ${disposedBy} -> ${disposedAfter}`)
  })

  const failed = checks.filter((entry) => !entry.ok)
  return { ...runtime, ok: failed.length === 0, checks }
}

/** describeRuntime tells, by feature detection, which runtime this is. */
export function describeRuntime() {
  const g = globalThis
  if (g.Deno?.version?.deno) return { runtime: 'deno', version: g.Deno.version.deno }
  if (g.Bun?.version) return { runtime: 'bun', version: g.Bun.version }
  const agent = g.navigator?.userAgent ?? ''
  if (agent === 'Cloudflare-Workers') return { runtime: 'workerd', version: undefined }
  const chrome = agent.match(/(?:HeadlessChrome|Chrome)\/([\d.]+)/)
  if (chrome && g.document) return { runtime: 'chromium', version: chrome[1] }
  if (g.process?.versions?.node) return { runtime: 'node', version: g.process.versions.node }
  return { runtime: 'unknown', version: agent || undefined }
}

function expect(condition, message) {
  if (!condition) throw new Error(message)
}

function delta(before, after, key) {
  return (after[key] ?? 0) - (before[key] ?? 0)
}

async function getJson(url, init) {
  const response = await fetch(url, init)
  if (response.status === 204) return {}
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url} answered ${response.status}`)
  return response.json()
}

/** The claims of a JWT, decoded without verification (the servers verify). */
function claims(token) {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
  return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')))
}

function describeError(error) {
  if (error === undefined) return 'no error'
  const name = error?.name ?? typeof error
  const code = error?.code ? ` (${error.code})` : ''
  return `${name}${code}: ${error?.message ?? String(error)}`
}

function within(ms, name, promise) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
