import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  type Authorize,
  CrossOriginError,
  clientCredentials,
  createRegistry,
  createTokenProvider,
  createTokenPushHandler,
  type FetchToken,
  RefreshingClient,
  refreshTokenGrant,
  startHeartbeat,
  type TokenProvider,
} from '../../src/index.js'
import { fileToken } from '../../src/node.js'
import { startFaultyTokenServer, testClock } from '../helpers/faults.js'
import { mint } from '../helpers/jwt.js'

function own<T extends { dispose(): void }>(value: T): T {
  onTestFinished(() => value.dispose())
  return value
}

describe('secrets', () => {
  // Every secret in each form it travels in: the client secret raw, form-encoded and inside the
  // Basic credentials; refresh tokens; and every access token issued (whole, and its signature).
  const clientSecret = 'cs SECRET/é+%:'
  const encodedSecret = new URLSearchParams([['', clientSecret]]).toString().slice(1)
  const basic = (id: string) => btoa(`${id}:${encodedSecret}`)
  const views = (value: unknown): string[] => [
    inspect(value, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
    String(value),
    JSON.stringify(value) ?? '',
    value instanceof Error ? `${value.message}\n${value.stack}` : '',
  ]

  it('never appear in an error, an event other than `token`, or a view of any object, along every failure path', async () => {
    const issued: string[] = []
    const refreshTokens = ['rt-SECRET-0']
    const accessToken = async (sub: string) => {
      const token = await mint({ sub, lifetimeMs: 3_600_000 })
      issued.push(token)
      return token
    }
    const errors: unknown[] = []
    const events: unknown[] = []
    const objects: unknown[] = []
    const responses: string[] = []
    const record = (kind: string) => (event: unknown) => events.push({ kind, event })

    // A token endpoint that echoes everything it was sent, as careless servers do, in every way it can fail.
    let echoed = 0
    type Mode =
      | 'echo400'
      | 'invalid_client'
      | 'invalid_grant'
      | 'echo500'
      | 'echo503'
      | 'text200'
      | 'typo200'
      | 'throw'
      | 'ok'
    let mode: Mode = 'ok'
    const tokenEndpoint: typeof fetch = async (input, init) => {
      const request = new Request(input as RequestInfo, init)
      const sent = `${request.headers.get('authorization')} ${await request.text()}`
      if (mode !== 'ok' && /SECRET/.test(decodeURIComponent(sent.replaceAll('+', ' ')))) echoed++
      const json = (status: number, body: unknown) => Response.json(body, { status })
      switch (mode) {
        case 'echo400':
          return json(400, { error: 'invalid_request', error_description: `bad: ${sent}` })
        case 'invalid_client':
          return json(401, { error: 'invalid_client', error_description: `who is ${sent}` })
        case 'invalid_grant':
          return json(400, { error: 'invalid_grant', error_description: `spent ${sent}` })
        case 'echo500':
          return new Response(`boom ${sent}`, { status: 500 })
        case 'echo503':
          return json(503, { error: `down ${sent}` })
        case 'text200':
          return new Response(`not json ${sent}`, { status: 200 })
        case 'typo200':
          return json(200, { access_token: 42, refresh_token: sent })
        case 'throw':
          throw new Error(`could not connect, sent ${sent}`)
        default: {
          const rotated = `rt-SECRET-${refreshTokens.length}`
          refreshTokens.push(rotated)
          const sub = new URLSearchParams(sent.split(' ').at(-1)).get('client_id') ?? 'svc'
          return json(200, { access_token: await accessToken(sub), expires_in: 3600, refresh_token: rotated })
        }
      }
    }

    // The API: answers `apiStatus`, and echoes the credential in its body and a header when `echo`
    // is on. (A ky HTTPError keeps the response's headers and body: what a server echoes is the
    // server's doing, so the ky path runs with `echo` off, to see what the client itself adds.)
    let apiStatus = 200
    let echo = true
    const api: typeof fetch = async (input, init) => {
      const request = new Request(input as RequestInfo, init)
      const authorization = request.headers.get('authorization') ?? request.headers.get('x-api-key') ?? ''
      if (new URL(request.url).pathname.startsWith('/redirect')) {
        return new Response(null, {
          status: 307,
          headers: { location: 'https://other.test/landing' },
        })
      }
      const said = echo ? authorization : '[not echoed]'
      if (echo && authorization !== '') echoed++
      return new Response(`you sent ${said}`, {
        status: apiStatus,
        headers: { 'www-authenticate': `Bearer error="invalid_token", token="${said}"` },
      })
    }
    const network: typeof fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      return url.startsWith('https://auth.test/') ? tokenEndpoint(input, init) : api(input, init)
    }

    const sources: FetchToken[] = [
      clientCredentials({
        tokenUrl: 'https://auth.test/token',
        clientId: 'svc',
        clientSecret,
        fetch: network,
        retry: 0,
      }),
      clientCredentials({
        tokenUrl: 'https://auth.test/token',
        clientId: 'svc',
        clientSecret,
        authMethod: 'client_secret_post',
        fetch: network,
        retry: 0,
      }),
      refreshTokenGrant({
        tokenUrl: 'https://auth.test/token',
        clientId: 'svc',
        clientSecret,
        refreshToken: 'rt-SECRET-0',
        fetch: network,
        retry: 0,
        onRotate: (rotated) => {
          throw new Error(`could not store ${rotated}`)
        },
      }),
    ]
    objects.push(...sources)

    // 1. Every source against every failure of the token endpoint, through a provider.
    const modes: Mode[] = [
      'echo400',
      'invalid_client',
      'invalid_grant',
      'echo500',
      'echo503',
      'text200',
      'typo200',
      'throw',
    ]
    for (const source of sources) {
      for (const failing of modes) {
        mode = failing
        const tokens = own(createTokenProvider({ fetchToken: source, name: 'svc', retry: { baseDelayMs: 10 } }))
        tokens.on('error', record('provider error'))
        tokens.on('expired', record('expired'))
        tokens.on('disposed', record('disposed'))
        errors.push(await tokens.getToken().catch((error: unknown) => error))
        errors.push(await tokens.refresh().catch((error: unknown) => error))
        objects.push(tokens)
        tokens.dispose()
        errors.push(await tokens.getToken().catch((error: unknown) => error))
      }
    }
    mode = 'ok'

    // 2. A provider that times out, and one whose token expires while the endpoint is down.
    const hanging = own(createTokenProvider({ fetchToken: () => new Promise(() => {}), refreshTimeoutMs: 20 }))
    hanging.on('error', record('provider error'))
    errors.push(await hanging.getToken().catch((error: unknown) => error))
    const clock = testClock(Date.now())
    const expiring = own(createTokenProvider({ fetchToken: sources[2] as FetchToken, now: clock.now, name: 'agent' }))
    expiring.on('error', record('provider error'))
    expiring.on('expired', record('expired'))
    await expiring.getToken()
    mode = 'echo500'
    clock.jump(3_600_000)
    errors.push(await expiring.getToken().catch((error: unknown) => error))
    mode = 'ok'
    objects.push(hanging, expiring)

    // 3. Clients: 401s that survive the retry (fetch and ky), refusals of other origins (with the
    //    token in the URL), a custom header across a redirect, and calls after dispose.
    const tokens = own(createTokenProvider({ fetchToken: sources[0] as FetchToken, name: 'svc' }))
    tokens.on('error', record('provider error'))
    const xApiKey: Authorize = (headers, token) => headers.set('x-api-key', token)
    for (const authorize of [undefined, xApiKey]) {
      const client = own(
        new RefreshingClient({
          tokens,
          baseUrl: 'https://api.test/',
          fetch: network,
          ...(authorize ? { authorize } : {}),
        }),
      )
      client.on('unauthorized', record('unauthorized'))
      client.on('retry', record('retry'))
      objects.push(client)
      apiStatus = 401
      const refused = await client.fetch('/items?access_token=x')
      responses.push(`${refused.status} ${refused.url}`)
      echo = false
      errors.push(await client.ky.get('items').catch((error: unknown) => error))
      echo = true
      apiStatus = 200
      const token = await tokens.getToken()
      for (const url of [`https://evil.test/?access_token=${token}`, `https://u:${token}@evil.test/`, 'http://[bad']) {
        errors.push(await client.fetch(url).catch((error: unknown) => error))
      }
      const redirected = await client.fetch('/redirect')
      responses.push(`${redirected.status} ${redirected.url}`)
      client.dispose()
      errors.push(await client.fetch('/x').catch((error: unknown) => error))
    }

    // 4. Heartbeats: a 401 that survives the retry, a 500, a network failure.
    for (const status of [401, 500, 0]) {
      const client = own(
        new RefreshingClient({
          tokens,
          baseUrl: 'https://api.test/',
          fetch: status === 0 ? () => Promise.reject(new TypeError('fetch failed')) : network,
        }),
      )
      apiStatus = status
      const heartbeat = own(
        startHeartbeat({ client, url: `/agents/svc/heartbeat?token=${issued.at(-1)}`, intervalMs: 60_000 }),
      )
      heartbeat.on('beat', record('beat'))
      heartbeat.on('failure', record('failure'))
      await expect.poll(() => heartbeat.sent).toBe(1)
      await expect.poll(() => heartbeat.failed + heartbeat.ok).toBe(1)
      objects.push(heartbeat)
    }
    apiStatus = 200

    // 5. A registry, its scopes and pushes: a foreign token, a malformed one, refreshAll failures.
    const registry = own(createRegistry())
    for (const type of ['scope', 'disposed', 'push', 'error'] as const) registry.on(type, record(`registry ${type}`))
    const scope = registry.scope('agent-a', {
      fetchToken: sources[1] as FetchToken,
      expectedClaims: { sub: 'agent-a' },
    })
    objects.push(registry, scope, scope.client({ baseUrl: 'https://api.test/', fetch: network }))
    const foreign = await accessToken('agent-b')
    errors.push(
      (() => {
        try {
          return registry.setToken('agent-a', foreign)
        } catch (error) {
          return error
        }
      })(),
    )
    mode = 'echo400'
    await registry.refreshAll()
    mode = 'ok'
    const push = createTokenPushHandler({ registry, scopeId: () => 'agent-a', scopeClaim: false })
    for (const body of [
      { token: foreign },
      { token: `${foreign.slice(0, 30)} ${foreign.slice(30)}` },
      { token: `x.${foreign}` },
    ]) {
      const response = await push(
        new Request('https://me.test/agents/agent-a/token', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      )
      responses.push(`${response.status} ${await response.text()}`)
    }
    scope.dispose()

    // 6. A token file whose content is not a usable token.
    const dir = await mkdtemp(join(tmpdir(), 'secrets-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'token'), `${issued[0]} ${issued[0]}`)
    const fromFile = own(createTokenProvider({ fetchToken: fileToken(join(dir, 'token')) }))
    fromFile.on('error', record('provider error'))
    errors.push(await fromFile.getToken().catch((error: unknown) => error))

    // 7. Socket-level failures of a real token endpoint: a reset and a hang.
    const server = await startFaultyTokenServer({ now: Date.now })
    server.script.push('reset', 'hang')
    const real = clientCredentials({
      tokenUrl: server.tokenUrl,
      clientId: 'svc',
      clientSecret,
      retry: 0,
      timeoutMs: 200,
    })
    for (let i = 0; i < 2; i++) {
      const provider: TokenProvider = own(createTokenProvider({ fetchToken: real }))
      errors.push(await provider.getToken().catch((error: unknown) => error))
    }

    // The drive really produced what it should have: many errors, events of each kind, and
    // servers that did echo the secrets back.
    expect(echoed).toBeGreaterThan(30)
    expect(errors.filter((error) => error instanceof Error).length).toBeGreaterThan(60)
    const kinds = new Set(events.map((event) => (event as { kind: string }).kind))
    expect([...kinds].sort()).toEqual(
      [
        'beat',
        'disposed',
        'expired',
        'failure',
        'provider error',
        'registry disposed',
        'registry error',
        'registry push',
        'registry scope',
        'retry',
        'unauthorized',
      ].sort(),
    )
    expect(issued.length).toBeGreaterThan(3)
    expect(responses.join('\n')).toMatch(/^(204|400|403|409) /m)

    const secrets = [
      clientSecret,
      encodedSecret,
      basic('svc'),
      ...refreshTokens,
      ...issued,
      ...issued.map((token) => token.split('.')[2] as string),
    ]
    const leaks: string[] = []
    for (const [i, value] of [...errors, ...events, ...objects, ...responses].entries()) {
      for (const view of views(value)) {
        for (const secret of secrets) if (view.includes(secret)) leaks.push(`#${i}: ${view.slice(0, 300)}`)
      }
    }
    expect(leaks).toEqual([])
  }, 30_000)
})

describe('origins', () => {
  const base = 'https://api.example.test:8443/v1/'
  const allowed = ['https://api.example.test:8443', 'https://uploads.example.test']
  const part = (values: string[]) => fc.constantFrom(...values)
  // URLs assembled from the parts that fool naive origin checks: userinfo (`@`), backslashes,
  // uppercase, ports, IDN look-alikes and full-width forms, `//host`, `..`, and a tab, CR or LF
  // anywhere (the URL parser drops them before anything else).
  const tricky = fc
    .tuple(
      part([
        'https://',
        'http://',
        'HTTPS://',
        'https:',
        'https:/',
        '//',
        '/',
        '\\\\',
        '/\\',
        '',
        'https:\\\\',
        ' https://',
        'https:///',
      ]),
      part(['', 'user@', 'u:p@', 'api.example.test:8443@', 'uploads.example.test@', '@']),
      part([
        'api.example.test',
        'API.EXAMPLE.TEST',
        'uploads.example.test',
        'evil.test',
        'api.example.test.evil.test',
        'evil.test\\api.example.test',
        'аpi.example.test',
        'api。example。test',
        'ａｐｉ.example.test',
        'xn--pi-6kc.example.test',
        'api.example.test.',
        '127.0.0.1',
        '[::1]',
        'v1',
        '..',
        '',
      ]),
      part(['', ':8443', ':443', ':80', ':08443', ':', ':8443\\']),
      part(['', '/', '/v1/x', '/../x', '/..%2f..', '?q=1', '#f', '\\x', '/\t/evil.test', '//evil.test', '/@evil.test']),
      fc.nat(),
      part(['', '', '\t', '\n', '\r']),
    )
    .map(([scheme, user, host, port, path, at, space]) => {
      const url = scheme + user + host + port + path
      const i = at % (url.length + 1)
      return url.slice(0, i) + space + url.slice(i)
    })

  it('sends the token only to allowed origins, and never refuses a URL that resolves to one', async () => {
    const sent: { url: string; authorization: string | null }[] = []
    const client = own(
      new RefreshingClient({
        tokens: { initialToken: 'origin-test-token' },
        baseUrl: base,
        allowedOrigins: ['https://uploads.example.test'],
        fetch: async (input, init) => {
          const request = new Request(input as RequestInfo, init)
          sent.push({ url: request.url, authorization: request.headers.get('authorization') })
          return new Response('ok')
        },
      }),
    )
    let accepted = 0
    let refused = 0
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(tricky, fc.string()),
        fc.constantFrom('string', 'URL', 'Request'),
        async (input, as) => {
          // What fetch would do: a string resolves against the base; a URL or Request is absolute.
          let argument: string | URL | Request = input
          try {
            if (as === 'URL') argument = new URL(input)
            if (as === 'Request') argument = new Request(input)
          } catch {
            return // not absolute: only a string can carry it
          }
          let expected: URL | undefined
          try {
            expected = new URL(argument instanceof Request ? argument.url : argument, base)
          } catch {}
          sent.length = 0
          const outcome = await client.fetch(argument).then(
            () => 'sent',
            (error: unknown) => error,
          )
          for (const request of sent) expect(allowed).toContain(new URL(request.url).origin)
          if (expected !== undefined && allowed.includes(expected.origin)) {
            accepted++
            if (expected.username !== '' || expected.password !== '') {
              // fetch itself refuses a URL with credentials in it.
              expect(outcome).toBeInstanceOf(TypeError)
              expect(sent).toEqual([])
              return
            }
            expect(outcome).toBe('sent')
            expect(sent).toEqual([{ url: expected.href, authorization: 'Bearer origin-test-token' }])
          } else {
            refused++
            expect(sent).toEqual([])
            expect(
              outcome instanceof CrossOriginError || (outcome instanceof TypeError && expected === undefined),
            ).toBe(true)
          }
        },
      ),
      { numRuns: 10_000 },
    )
    expect(accepted).toBeGreaterThan(1_000)
    expect(refused).toBeGreaterThan(1_000)
  })

  it('never lets the token (in any header authorize sets) follow a redirect to another origin', async () => {
    const origins = [
      'https://api.example.test:8443',
      'https://uploads.example.test',
      'https://evil.test',
      'https://api.example.test:9443',
    ]
    const hop = fc.record({
      status: fc.constantFrom(301, 302, 303, 307, 308),
      to: fc.nat({ max: origins.length - 1 }),
      relative: fc.boolean(),
    })
    const authorizers: [string[], Authorize | undefined][] = [
      [['authorization'], undefined],
      [['x-api-key'], (headers, token) => headers.set('x-api-key', token)],
      [
        ['authorization', 'x-token'],
        (headers, token) => {
          headers.set('authorization', `Token ${token}`)
          headers.set('X-Token', token)
        },
      ],
    ]
    await fc.assert(
      fc.asyncProperty(
        fc.array(hop, { maxLength: 5 }),
        fc.nat({ max: authorizers.length - 1 }),
        fc.constantFrom('GET', 'POST', 'PUT'),
        fc.boolean(),
        async (hops, which, method, refuseFirst) => {
          const [names, authorize] = authorizers[which] as [string[], Authorize | undefined]
          const seen: { origin: string; step: number; carried: boolean }[] = []
          let sends = 0
          const client = new RefreshingClient({
            tokens: { initialToken: 'redirect-token', fetchToken: async () => 'fresh-token' },
            baseUrl: `${origins[0]}/`,
            allowedOrigins: ['https://uploads.example.test'],
            ...(authorize ? { authorize } : {}),
            fetch: async (input, init) => {
              const request = new Request(input as RequestInfo, init)
              const url = new URL(request.url)
              const carried = names.some((name) => {
                const value = request.headers.get(name)
                return value !== null && /(redirect|fresh)-token/.test(value)
              })
              const step = Number(url.searchParams.get('step') ?? 0)
              seen.push({ origin: url.origin, step, carried })
              if (step === 0) sends++
              const next = hops[step]
              if (next === undefined) return new Response('done', { status: refuseFirst && sends === 1 ? 401 : 200 })
              const location = next.relative ? `/hop?step=${step + 1}` : `${origins[next.to]}/hop?step=${step + 1}`
              return new Response(null, { status: next.status, headers: { location } })
            },
          })
          try {
            const response = await client.fetch('/start', { method, ...(method === 'GET' ? {} : { body: 'payload' }) })
            expect([200, 401]).toContain(response.status)
          } finally {
            client.dispose()
          }
          // Within each send, a hop carries the token exactly while every hop so far stayed on the
          // first origin: once the chain leaves it, even for another allowed origin, or comes back,
          // the token stays behind.
          expect(seen.filter((request) => request.step === 0)).toHaveLength(sends)
          expect(sends).toBeLessThanOrEqual(2)
          let stayed = true
          for (const request of seen) {
            if (request.step === 0) stayed = true
            if (request.origin !== origins[0]) stayed = false
            expect(request.carried).toBe(stayed)
          }
        },
      ),
      { numRuns: 2_000 },
    )
  })
})

describe('retries', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  const status = fc.constantFrom(200, 201, 204, 400, 401, 401, 403, 404, 419, 500, 503)
  // What one send gets: a status, or a redirect (within the origin, or to another one) to a status.
  const answer = fc.oneof(
    status.map((s) => ({ status: s, redirect: undefined })),
    fc.record({
      status,
      redirect: fc.record({ status: fc.constantFrom(301, 302, 303, 307, 308), crossOrigin: fc.boolean() }),
    }),
  )
  const request = fc.record({
    answers: fc.array(answer, { minLength: 1, maxLength: 3 }),
    delayMs: fc.nat({ max: 3 }),
    viaKy: fc.boolean(),
    method: fc.constantFrom('GET', 'POST'),
  })

  it('retries at most once per request, only a refused one that carried the token, whatever the server does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(request, { minLength: 1, maxLength: 12 }),
        fc.subarray([401, 403, 419], { minLength: 1 }),
        async (requests, retryOnStatus) => {
          const sends = requests.map(() => 0)
          let fetches = 0
          const server: typeof fetch = async (input) => {
            const url = new URL(input instanceof Request ? input.url : String(input))
            const [, kind, id, send] = url.pathname.split('/') as [string, string, string, string | undefined]
            const spec = requests[Number(id)] as (typeof requests)[number]
            await sleep(spec.delayMs)
            if (kind === 'landing') {
              const landed = spec.answers[Math.min(Number(send), spec.answers.length - 1)]
              return new Response(null, { status: landed?.status ?? 200 })
            }
            const n = sends[Number(id)] ?? 0
            sends[Number(id)] = n + 1
            const reply = spec.answers[Math.min(n, spec.answers.length - 1)] as (typeof spec.answers)[number]
            if (reply.redirect === undefined) return new Response(null, { status: reply.status })
            const origin = reply.redirect.crossOrigin ? 'https://other.test' : url.origin
            return new Response(null, {
              status: reply.redirect.status,
              headers: { location: `${origin}/landing/${id}/${n}` },
            })
          }
          const client = new RefreshingClient({
            tokens: { initialToken: 't0', fetchToken: async () => `t${++fetches}` },
            baseUrl: 'https://api.test/',
            retryOnStatus,
            fetch: server,
            ky: { retry: 0, throwHttpErrors: false },
          })
          try {
            const statuses = await Promise.all(
              requests.map(async (spec, id) => {
                const init = { method: spec.method, ...(spec.method === 'POST' ? { body: `body ${id}` } : {}) }
                const response = spec.viaKy ? await client.ky(`r/${id}`, init) : await client.fetch(`/r/${id}`, init)
                return response.status
              }),
            )
            let refused = 0
            for (const [id, spec] of requests.entries()) {
              // A send is replayed only when its final answer is in retryOnStatus and it still
              // carried the token there (no redirect to another origin), and only once.
              const first = spec.answers[0] as (typeof spec.answers)[number]
              const retried = retryOnStatus.includes(first.status) && first.redirect?.crossOrigin !== true
              if (retried) refused++
              expect({ id, sends: sends[id] }).toEqual({ id, sends: retried ? 2 : 1 })
              const last = spec.answers[Math.min(retried ? 1 : 0, spec.answers.length - 1)]
              expect(statuses[id]).toBe(last?.status)
              // A refused replay refuses its (fresh) token too, which is then refreshed for the next request.
              if (
                retried &&
                last !== undefined &&
                retryOnStatus.includes(last.status) &&
                last.redirect?.crossOrigin !== true
              ) {
                refused++
              }
            }
            // One refresh per refused token at most: never more fetches than refused tokens.
            expect(fetches).toBeLessThanOrEqual(refused)
            if (refused > 0) expect(fetches).toBeGreaterThan(0)
          } finally {
            client.dispose()
          }
        },
      ),
      { numRuns: 300 },
    )
  }, 60_000)
})
