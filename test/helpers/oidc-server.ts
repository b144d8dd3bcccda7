import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider, { type KoaContextWithOIDC } from 'oidc-provider'

/** What the identity provider saw: grants by type, revocations, errors, userinfo answers. */
export interface OidcCounts {
  refreshGrants: number[]
  revocations: number
  invalidGrants: number
  userinfo: Map<number, number>
  /** Every access and refresh token it issued, to look for them where they must not be. */
  issued: Set<string>
}

/** A real oidc-provider on 127.0.0.1 that rotates refresh tokens: a used one coming back revokes the grant. */
export interface OidcServer {
  readonly issuer: string
  readonly tokenUrl: string
  readonly userinfoUrl: string
  readonly clientId: string
  readonly clientSecret: string
  readonly counts: OidcCounts
  /** A refresh token of a new grant, obtained with the test's own grant type (no browser). */
  newRefreshToken(): Promise<string>
  close(): Promise<void>
}

const passwordGrant = 'urn:refreshing-client:test:password'

/**
 * startOidcServer runs oidc-provider with `rotateRefreshToken: true`, access tokens of
 * `accessTokenTtlS` seconds and an extra grant type that hands out a refresh token for a test user
 * (the part of a login a test cannot drive). Everything else is oidc-provider's own code: the
 * refresh token grant, the replay detection that revokes the grant, the userinfo endpoint.
 */
export async function startOidcServer(accessTokenTtlS: number): Promise<OidcServer> {
  const clientId = 'host-agent'
  const clientSecret = `secret-${crypto.randomUUID()}`
  const counts: OidcCounts = {
    refreshGrants: [],
    revocations: 0,
    invalidGrants: 0,
    userinfo: new Map(),
    issued: new Set(),
  }
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['refresh_token', passwordGrant],
        response_types: [],
        redirect_uris: [],
      },
    ],
    rotateRefreshToken: true,
    ttl: { AccessToken: accessTokenTtlS, IdToken: 60, RefreshToken: 3_600, Grant: 3_600 },
    findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
    features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
    cookies: { keys: ['test-cookie-key'] },
  } as never)
  provider.registerGrantType(
    passwordGrant,
    async (ctx: KoaContextWithOIDC) => {
      const { Grant, RefreshToken } = ctx.oidc.provider
      const accountId = String(ctx.oidc.params?.['username'])
      const grant = new Grant({ clientId, accountId })
      grant.addOIDCScope('openid offline_access')
      const grantId = await grant.save()
      const refreshToken = new RefreshToken({
        accountId,
        client: ctx.oidc.client as NonNullable<KoaContextWithOIDC['oidc']['client']>,
        grantId,
        scope: 'openid offline_access',
        gty: passwordGrant,
      })
      ctx.body = { refresh_token: await refreshToken.save(), token_type: 'Bearer' }
    },
    ['username'],
  )
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    if (ctx.oidc.params?.['grant_type'] === 'refresh_token') counts.refreshGrants.push(Date.now())
  })
  provider.on('grant.error', (_ctx: unknown, error: { error?: string }) => {
    if (error.error === 'invalid_grant') counts.invalidGrants++
  })
  provider.on('grant.revoked', () => counts.revocations++)
  provider.on('access_token.saved', (token: { jti: string }) => counts.issued.add(token.jti))
  provider.on('refresh_token.saved', (token: { jti: string }) => counts.issued.add(token.jti))
  const callback = provider.callback()
  server.on('request', (request, response) => {
    if (request.url?.startsWith('/me')) {
      response.on('finish', () =>
        counts.userinfo.set(response.statusCode, (counts.userinfo.get(response.statusCode) ?? 0) + 1),
      )
    }
    callback(request, response)
  })
  const tokenUrl = `${issuer}/token`
  return {
    issuer,
    tokenUrl,
    userinfoUrl: `${issuer}/me`,
    clientId,
    clientSecret,
    counts,
    async newRefreshToken() {
      const response = await fetch(tokenUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: passwordGrant, username: 'user-1' }),
      })
      const body = (await response.json()) as { refresh_token?: string }
      if (typeof body.refresh_token !== 'string') throw new Error(`no refresh token: ${JSON.stringify(body)}`)
      return body.refresh_token
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
