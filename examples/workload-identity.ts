// Recipe 14: an agent in Kubernetes or CI, with no secret of its own. The platform's identity (here a
// projected service account token: a file the "kubelet" rewrites every 4 s with a 6-second JWT) is
// exchanged (RFC 8693) for short API tokens. The subject is read fresh for every exchange, so the
// chain never presents an expired one; the API token's own expiry decides when to exchange.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { errors, generateKeyPair, jwtVerify, SignJWT } from 'jose'
import { createTokenProvider, RefreshingClient, tokenExchange } from 'refreshing-client'
import { fileToken } from 'refreshing-client/node'

const clusterIssuer = 'https://kubernetes.default.svc'
const apiSecret = new TextEncoder().encode('the API signing secret, 32 bytes or more')

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function main(): Promise<void> {
  const cluster = await generateKeyPair('ES256')
  const stats = { exchanges: 0, expiredSubjects: 0, failed: 0 }

  // The authorization server: trusts the cluster's key, enforces the subject's exp, issues 3-second API tokens.
  const auth = createServer(async (request, response) => {
    let body = ''
    for await (const chunk of request) body += chunk
    const form = new URLSearchParams(body)
    const reply = (status: number, json: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json))
    }
    try {
      const { payload } = await jwtVerify(form.get('subject_token') ?? '', cluster.publicKey, {
        issuer: clusterIssuer,
        audience: authUrl,
      })
      stats.exchanges++
      const accessToken = await new SignJWT({ sub: payload.sub ?? 'unknown', jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('3s')
        .sign(apiSecret)
      reply(200, {
        access_token: accessToken,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: 3,
      })
    } catch (error) {
      if (error instanceof errors.JWTExpired) stats.expiredSubjects++
      reply(400, { error: 'invalid_grant' })
    }
  })
  const authUrl = await listen(auth)
  const api = createServer(async (request, response) => {
    const token = request.headers.authorization?.replace(/^Bearer /, '') ?? ''
    const ok = await jwtVerify(token, apiSecret).then(
      () => true,
      () => false,
    )
    response.writeHead(ok ? 200 : 401).end()
  })
  const apiUrl = await listen(api)

  // The "kubelet": a new 6-second token every 4 s, swapped in whole.
  const dir = await mkdtemp(join(tmpdir(), 'workload-identity-'))
  const file = join(dir, 'token')
  const rotate = async () => {
    const jwt = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(clusterIssuer)
      .setSubject('system:serviceaccount:agents:runner')
      .setAudience(authUrl)
      .setIssuedAt()
      .setExpirationTime('6s')
      .sign(cluster.privateKey)
    await writeFile(`${file}.tmp`, jwt)
    await rename(`${file}.tmp`, file)
  }
  await rotate()
  const kubelet = setInterval(() => void rotate(), 4_000)

  // The agent: no secret of its own, only the identity the platform gives it.
  const identity = createTokenProvider({ name: 'workload-identity', fetchToken: fileToken(file, { watch: true }) })
  const client = new RefreshingClient({
    baseUrl: apiUrl,
    tokens: {
      name: 'api',
      fetchToken: tokenExchange({
        tokenUrl: `${authUrl}/token`,
        clientId: 'agent-runner', // a public client: the subject token is the credential
        subjectToken: identity,
        audience: apiUrl,
      }),
    },
  })
  let calls = 0
  const until = Date.now() + 7_000
  while (Date.now() < until) {
    calls++
    if ((await client.fetch('/work')).status !== 200) stats.failed++
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  console.log(
    `${calls} calls over 7 s, ${stats.failed} failed, ${stats.exchanges} exchanges, ${stats.expiredSubjects} with an expired subject`,
  )

  clearInterval(kubelet)
  client.dispose()
  identity.dispose()
  auth.close()
  api.close()
  await rm(dir, { recursive: true, force: true })
}

void main()
