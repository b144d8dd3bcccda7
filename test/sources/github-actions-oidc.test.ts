import { getIDToken } from '@actions/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createTokenProvider, isAuthError, tokenExchange } from '../../src/index.js'
import { githubActionsOidc } from '../../src/node.js'
import { mint } from '../helpers/jwt.js'
import { type Hit, json, startServer, type TestServer } from '../helpers/servers.js'
import { authRejection, fetchContext } from '../helpers/sources.js'

// Headers the runtime's HTTP stack adds by itself, which neither caller chooses: Node's `http`
// (under @actions/http-client) sends `connection: close`; undici's `fetch` sends `connection:
// keep-alive` and the Fetch standard's `accept-encoding`, `accept-language` and `sec-fetch-mode`.
const transportHeaders = new Set(['connection', 'accept-encoding', 'accept-language', 'sec-fetch-mode'])
const requestToken = 'runtime-request-token.abc123'
const audience = 'https://auth.example.com/a b?c=d&e'

let service: TestServer
let answer: (hit: Hit) => { status: number; body: unknown }

beforeEach(async () => {
  answer = () => ({ status: 200, body: { value: 'unused' } })
  service = await startServer(async (hit, response) => {
    const { status, body } = answer(hit)
    json(response, status, body)
  })
  vi.stubEnv(
    'ACTIONS_ID_TOKEN_REQUEST_URL',
    service.url('/_apis/distributedtask/hubs/Actions/jobs/7/idtoken?api-version=2.0'),
  )
  vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN', requestToken)
})
afterEach(async () => {
  vi.unstubAllEnvs()
  await service.close()
})

function shape(hit: Hit | undefined) {
  if (hit === undefined) throw new Error('no request')
  const headers = Object.fromEntries(Object.entries(hit.headers).filter(([name]) => !transportHeaders.has(name)))
  return { method: hit.method, path: hit.path, headers }
}

describe('githubActionsOidc', () => {
  it("sends the request @actions/core's getIDToken sends: method, path, query and headers", async () => {
    const token = await mint({ sub: 'repo:acme/app:ref:refs/heads/main', lifetimeMs: 300_000 })
    answer = () => ({ status: 200, body: { value: token } })
    // @actions/core prints workflow commands (`::debug::`, `::add-mask::`) on stdout: keep the test output quiet.
    const quiet = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(await getIDToken(audience)).toBe(token)
    } finally {
      quiet.mockRestore()
    }
    expect(await githubActionsOidc({ audience })(fetchContext())).toBe(token)
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(await getIDToken()).toBe(token)
    } finally {
      vi.restoreAllMocks()
    }
    expect(await githubActionsOidc()(fetchContext())).toBe(token)
    const [core, ours, coreDefault, oursDefault] = service.hits.map(shape)
    expect(ours).toEqual(core)
    expect(oursDefault).toEqual(coreDefault)
    expect(ours).toEqual({
      method: 'GET',
      path: `/_apis/distributedtask/hubs/Actions/jobs/7/idtoken?api-version=2.0&audience=${encodeURIComponent(audience)}`,
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${requestToken}`,
        'user-agent': 'actions/oidc-client',
        host: new URL(service.origin).host,
      },
    })
    // Only the headers above were set aside, and only because the runtime adds them.
    expect(
      Object.keys(service.hits[1]?.headers ?? {})
        .filter((name) => transportHeaders.has(name))
        .sort(),
    ).toEqual(['accept-encoding', 'accept-language', 'connection', 'sec-fetch-mode'])
  })

  it('is a terminal error at the first fetch, before any request, when the job lacks id-token: write', async () => {
    for (const missing of ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN']) {
      vi.stubEnv(missing, undefined)
      const error = await authRejection(githubActionsOidc({ audience })(fetchContext()))
      expect(isAuthError(error, 'ERR_TOKEN_SOURCE')).toBe(true)
      expect(error.terminal).toBe(true)
      expect(error.message).toBe(
        `githubActionsOidc: ${missing} is not set: the job needs \`permissions: id-token: write\` (for the job or the workflow)`,
      )
      vi.unstubAllEnvs()
      vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_URL', service.url('/idtoken?api-version=2.0'))
      vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN', requestToken)
    }
    expect(service.hits).toHaveLength(0)
  })

  it('stops an exchange chained on it too, with the reason', async () => {
    vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN', '')
    const ci = createTokenProvider({ fetchToken: githubActionsOidc({ audience }) })
    const api = createTokenProvider({
      fetchToken: tokenExchange({ tokenUrl: service.url('/token'), clientId: 'ci', subjectToken: ci }),
    })
    try {
      await expect(api.getToken()).rejects.toThrow('the job needs `permissions: id-token: write`')
      expect(api.state).toBe('failed')
      expect(service.hits).toHaveLength(0)
    } finally {
      api.dispose()
      ci.dispose()
    }
  })

  it('reports a refused request or an answer without a token, never quoting the request token', async () => {
    answer = () => ({ status: 403, body: { message: `bad ${requestToken}` } })
    const refused = await authRejection(githubActionsOidc()(fetchContext()))
    expect(refused.terminal).toBe(false)
    expect(refused.message).toBe(
      `githubActionsOidc: ${service.origin}/_apis/distributedtask/hubs/Actions/jobs/7/idtoken answered 403`,
    )
    answer = () => ({ status: 200, body: { count: 0 } })
    const empty = await authRejection(githubActionsOidc()(fetchContext()))
    expect(empty.message).toBe(
      `githubActionsOidc: ${service.origin}/_apis/distributedtask/hubs/Actions/jobs/7/idtoken answered without a token in "value"`,
    )
    for (const error of [refused, empty])
      expect(JSON.stringify([error.message, String(error.cause)])).not.toContain(requestToken)
  })

  it('retries a 503 twice at once, then leaves it to the provider', async () => {
    answer = () => ({ status: 503, body: {} })
    const error = await authRejection(githubActionsOidc()(fetchContext()))
    expect(error.message).toContain('answered 503')
    expect(service.hits).toHaveLength(3)
  })

  it('checks its options, naming them', () => {
    expect(() => githubActionsOidc({ audience: '' })).toThrow(
      new TypeError('githubActionsOidc: audience must be a non-empty string'),
    )
    expect(() => githubActionsOidc({ timeoutMs: 0 })).toThrow(RangeError)
  })
})
