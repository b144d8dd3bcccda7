import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, SignJWT } from 'jose'
import { expect, it } from 'vitest'
import { createTokenProvider, RefreshingClient, type TokenReason, tokenExchange } from '../../src/index.js'
import { fileToken } from '../../src/node.js'
import { startExchangeServer } from '../helpers/exchange-server.js'
import { startServer } from '../helpers/servers.js'

// The acceptance run of DESIGN §7.6: a Kubernetes-style projected token (a file the "kubelet"
// rewrites every 8 s with a new 12-second JWT) is exchanged at a real oidc-provider for 10-second
// API tokens, and an API is called every 200 ms for 60 s. Real time throughout: the subject's `exp`
// is enforced by the authorization server's own clock, with no leeway.
const rotateEveryMs = 8_000
const subjectLifetimeS = 12
const apiTokenTtlS = 10
const callEveryMs = 200
const calls = 300 // 60 s at one call every 200 ms

it('exchanges a rotating subject for API tokens: every call 200, no expired subject, one exchange per refresh point', async () => {
  const clusterIssuer = 'https://kubernetes.default.svc.cluster.local'
  const cluster = await generateKeyPair('ES256')
  const as = await startExchangeServer({
    subjectKey: cluster.publicKey,
    subjectIssuer: clusterIssuer,
    accessTokenTtlS: apiTokenTtlS,
  })
  const api = await startServer(async (hit, response) => {
    const token = /^Bearer (.+)$/.exec(hit.headers.authorization ?? '')?.[1] ?? ''
    const ok = await as.verify(token).then(
      () => true,
      () => false,
    )
    response.writeHead(ok ? 200 : 401).end()
  })
  const dir = await mkdtemp(join(tmpdir(), 'refreshing-client-wif-'))
  const file = join(dir, 'token')
  let written = 0
  // As the kubelet does: a new token, swapped in whole (a new inode), never a half-written file.
  const rotate = async () => {
    const now = Math.floor(Date.now() / 1000)
    const jwt = await new SignJWT({ jti: `subject-${++written}` })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(clusterIssuer)
      .setSubject('system:serviceaccount:agents:runner')
      .setAudience(as.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + subjectLifetimeS)
      .sign(cluster.privateKey)
    await writeFile(`${file}.tmp`, `${jwt}\n`)
    await rename(`${file}.tmp`, file)
  }
  await rotate()
  const kubelet = setInterval(() => void rotate(), rotateEveryMs)

  const subject = createTokenProvider({ name: 'cluster-identity', fetchToken: fileToken(file, { watch: true }) })
  const client = new RefreshingClient({
    baseUrl: api.origin,
    tokens: {
      name: 'api',
      fetchToken: tokenExchange({
        issuer: as.issuer,
        clientId: as.clientId,
        clientSecret: as.clientSecret,
        subjectToken: subject,
        resource: as.apiAudience,
      }),
    },
  })
  const reasons: TokenReason[] = []
  const issuedTypes = new Set<string | undefined>()
  client.tokens.on('token', ({ token, reason }) => {
    reasons.push(reason)
    issuedTypes.add(token.issuedTokenType)
  })
  const errors: string[] = []
  client.tokens.on('error', ({ error }) => errors.push(error.message))
  const statuses: number[] = []
  try {
    for (let i = 0; i < calls; i++) {
      statuses.push((await client.fetch('/data')).status)
      await new Promise((resolve) => setTimeout(resolve, callEveryMs))
    }
  } finally {
    clearInterval(kubelet)
    client.dispose()
    subject.dispose()
    await Promise.all([as.close(), api.close()])
    await rm(dir, { recursive: true, force: true })
  }

  expect(statuses).toHaveLength(calls)
  expect(statuses.filter((status) => status !== 200)).toEqual([])
  expect(api.hits).toHaveLength(calls) // no 401, so no replay
  expect(as.counts.expiredSubjects).toBe(0)
  expect(as.counts.refused).toEqual([])
  expect(errors).toEqual([])
  // Every exchange became the API token at a refresh point of that token (the first, then each
  // scheduled one), never because the subject rotated.
  expect(as.counts.exchanged).toHaveLength(reasons.length)
  expect(reasons[0]).toBe('initial')
  expect(reasons.slice(1).every((reason) => reason === 'scheduled')).toBe(true)
  // 10-second tokens over 60 s: the first, and at least one per lifetime after it.
  expect(reasons.length).toBeGreaterThanOrEqual(1 + Math.floor((calls * callEveryMs) / (apiTokenTtlS * 1000)))
  expect(issuedTypes).toEqual(new Set(['urn:ietf:params:oauth:token-type:access_token']))
  // The exchanges presented rotated subjects: the chain followed the file.
  expect(new Set(as.counts.exchanged).size).toBeGreaterThan(1)
  console.log(
    `token exchange acceptance: ${statuses.length} calls, ${statuses.filter((s) => s === 200).length} answered 200, ` +
      `${as.counts.exchanged.length} exchanges (${new Set(as.counts.exchanged).size} distinct subjects of ${written} written), ` +
      `${as.counts.expiredSubjects} with an expired subject`,
  )
}, 90_000)
