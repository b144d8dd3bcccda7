import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Io, run } from '../../src/cli/main.js'
import { targetOf } from '../../src/cli/proxy.js'
import { mint } from '../helpers/jwt.js'
import { startApiServer } from '../helpers/servers.js'
import { startTokenServer, type TokenServer } from '../helpers/token-server.js'

// The program in this process (the subprocess tests in proxy.test.ts run the built one): the same
// `run` the bin calls, with its output and its stop signal in the test's hands.
function io(env: Record<string, string> = {}) {
  let stop: () => void = () => {}
  const out = { stdout: '', stderr: '' }
  const value: Io = {
    stdout: (text) => {
      out.stdout += text
    },
    stderr: (text) => {
      out.stderr += text
    },
    env,
    stopped: new Promise<void>((resolve) => {
      stop = resolve
    }),
  }
  return { io: value, out, stop: () => stop() }
}

let tokens: TokenServer
let dir: string
const secret = 'in-process secret'

beforeAll(async () => {
  tokens = await startTokenServer(async (hit) => ({
    body: {
      access_token: await mint({ sub: hit.form.get('client_id') ?? 'agent' }),
      token_type: 'Bearer',
      expires_in: 3600,
    },
  }))
  dir = await mkdtemp(join(tmpdir(), 'rc-cli-run-'))
})

afterAll(async () => {
  await tokens.close()
  await rm(dir, { recursive: true, force: true })
})

const source = () => ['--token-url', tokens.tokenUrl, '--client-id', 'agent', '--client-secret-env', 'S']

describe('run proxy, in process', () => {
  it('prints where it listens, proxies with a fresh token, replays once, and exits 0 when stopped', async () => {
    const api = await startApiServer()
    const { io: ioValue, out, stop } = io({ S: secret })
    const exited = run(['proxy', '--upstream', `${api.origin}/v1`, '--log', 'json', ...source()], ioValue)
    while (!out.stdout.includes('listening on')) await new Promise((resolve) => setTimeout(resolve, 10))
    const url = /listening on (\S+)/.exec(out.stdout)?.[1] as string
    try {
      expect((await fetch(`${url}/ping`)).status).toBe(200)
      const held = /^Bearer (.+)$/.exec(api.hits[0]?.headers.authorization ?? '')?.[1] as string
      api.revoked.add(held)
      const response = await fetch(`${url}/ping`, { method: 'POST', body: 'again' })
      expect(response.status).toBe(200)
      expect(api.hits.map((hit) => hit.path)).toEqual(['/v1/ping', '/v1/ping', '/v1/ping'])
      expect(tokens.hits.length).toBeGreaterThanOrEqual(2)
    } finally {
      stop()
      expect(await exited).toBe(0)
      await api.close()
    }
    expect(out.stderr).toMatch(/"method":"POST","path":"\/ping","status":200,"ms":\d+,"replayed":true/)
    expect(out.stdout + out.stderr).not.toContain(secret)
  })

  it('answers 503 with the error code, and no token, when no token can be had', async () => {
    const api = await startApiServer()
    const refusing = await startTokenServer(() => ({ status: 401, body: { error: 'invalid_client' } }))
    const { io: ioValue, out, stop } = io({ S: secret })
    const args = [
      'proxy',
      '--upstream',
      api.origin,
      '--token-url',
      refusing.tokenUrl,
      '--client-id',
      'a',
      '--client-secret-env',
      'S',
    ]
    const exited = run(args, ioValue)
    while (!out.stdout.includes('listening on')) await new Promise((resolve) => setTimeout(resolve, 10))
    const url = /listening on (\S+)/.exec(out.stdout)?.[1] as string
    try {
      const response = await fetch(`${url}/x`)
      expect(response.status).toBe(503)
      expect(await response.text()).toBe('refreshing-client: no token (ERR_REFRESH)\n')
      expect(api.hits).toEqual([])
    } finally {
      stop()
      expect(await exited).toBe(0)
      await api.close()
      await refusing.close()
    }
  })
})

describe('run token, in process', () => {
  it.each([
    ['a client secret from a file', async () => ['--client-secret-file', await file('secret.txt', `${secret}\n`)]],
    ['a private key from a PEM file', async () => ['--private-key-file', await file('key.pem', pem())]],
    ['a private key from a JWK file', async () => ['--private-key-file', await file('key.jwk', jwk())]],
  ])('authenticates with %s', async (_, auth) => {
    const before = tokens.hits.length
    const { io: ioValue, out } = io()
    const code = await run(
      ['token', '--token-url', tokens.tokenUrl, '--client-id', 'agent', ...(await auth())],
      ioValue,
    )
    expect([code, out.stderr]).toEqual([0, ''])
    expect(decodeJwt(out.stdout.trim()).sub).toBeDefined()
    const hit = tokens.hits[before]
    if (hit?.form.has('client_assertion')) {
      expect(hit.form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      expect(decodeJwt(hit.form.get('client_assertion') as string)).toMatchObject({ iss: 'agent', sub: 'agent' })
      expect(hit.headers.authorization).toBeUndefined()
    } else {
      expect(hit?.headers.authorization).toBe(
        `Basic ${btoa(`agent:${encodeURIComponent(secret).replaceAll('%20', '+')}`)}`,
      )
    }
  })

  it('reads a token file', async () => {
    const token = await mint()
    const { io: ioValue, out } = io()
    expect(
      await run(['token', '--token-file', await file('token.jwt', `${token}\n`), '--format', 'header'], ioValue),
    ).toBe(0)
    expect(out.stdout).toBe(`{"Authorization":"Bearer ${token}"}\n`)
  })

  it.each([
    [
      ['token', '--token-file', '/x', '--client-id', 'a'],
      '--token-file takes no other source option (got --client-id)',
    ],
    [['token', '--token-url', 'https://a/t', '--client-id', 'a'], 'client credentials need --client-secret-env'],
    [
      ['token', '--token-url', 'https://a/t', '--client-id', 'a', '--client-secret-file', '/nonexistent'],
      'cannot read /nonexistent (ENOENT)',
    ],
    [
      ['token', '--token-url', 'https://a/t', '--client-id', 'a', '--private-key-file', 'SELF'],
      'the file is not a private key',
    ],
    [
      ['token', '--token-url', 'https://a/t', '--client-id', 'a', '--refresh-token-env', 'R', '--audience', 'x'],
      '--audience is for client credentials',
    ],
    [['token', '--token-url', 'ftp://a/t', '--client-id', 'a', '--client-secret-env', 'S'], 'tokenUrl'],
    [['token', '--token-file', '/x', '--store', ''], '--store takes a file path'],
    [['proxy', '--upstream', 'not a url', '--token-file', '/x'], '--upstream must be an absolute http(s) URL'],
    [['proxy', '--upstream', 'https://h/?q', '--token-file', '/x'], '--upstream takes no query or fragment'],
    [['proxy', '--upstream', 'https://h/', '--listen', 'nowhere', '--token-file', '/x'], '--listen takes HOST:PORT'],
    [['proxy', '--upstream', 'https://h/', '--log', 'text', '--token-file', '/x'], '--log takes one value: json'],
    [['proxy', '--upstream', 'https://h/', '--local-token-env', 'L', '--token-file', '/x'], 'L is not set'],
  ])('refuses %j (exit 2)', async (args, message) => {
    const self = await file('not-a-key.txt', 'hello')
    const { io: ioValue, out } = io({ S: secret, R: 'rt' })
    const code = await run(
      args.map((arg) => (arg === 'SELF' ? self : arg)),
      ioValue,
    )
    expect(code).toBe(2)
    expect(out.stderr).toContain(message)
    expect(out.stderr).not.toContain(secret)
  })

  it('prints help for each command (exit 0)', async () => {
    for (const args of [['--help'], ['proxy', '--help'], ['token', '--help']]) {
      const { io: ioValue, out } = io()
      expect(await run(args, ioValue)).toBe(0)
      expect(out.stdout).toMatch(/^Usage: refreshing-client/)
      expect(out.stdout).toMatch(/Example|Exit codes/)
    }
  })
})

describe('targetOf', () => {
  const upstream = new URL('https://h.example/mcp')
  it.each([
    ['/', 'https://h.example/mcp'],
    ['/?x=1', 'https://h.example/mcp?x=1'],
    ['/a/b?c', 'https://h.example/mcp/a/b?c'],
    ['http://evil.example/a', 'https://h.example/mcp/a'],
    ['//evil.example/a', 'https://h.example/mcp//evil.example/a'],
    ['/../x', undefined],
    ['/%2E%2E/x', undefined],
    ['*', undefined],
  ])('maps %s to %s', (target, expected) => {
    expect(targetOf(target, upstream, '/mcp')?.href).toBe(expected)
  })

  it('maps under an empty prefix', () => {
    expect(targetOf('/a', new URL('https://h.example/'), '')?.href).toBe('https://h.example/a')
    expect(targetOf('/', new URL('https://h.example/'), '')?.href).toBe('https://h.example/')
  })
})

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, content)
  return path
}

function pem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    format: 'pem',
    type: 'pkcs8',
  }) as string
}

function jwk(): string {
  return JSON.stringify(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }))
}
