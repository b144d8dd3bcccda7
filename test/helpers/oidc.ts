import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { exportJWK, generateKeyPair } from 'jose'
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider'
import { listen } from './listen.js'

/** What the identity provider saw: grants by type, revocations, errors, userinfo answers. */
export interface OidcCounts {
  /** When each refresh token grant succeeded (epoch ms). */
  refreshGrants: number[]
  revocations: number
  invalidGrants: number
  /** Userinfo answers by status. */
  userinfo: Map<number, number>
  /** Every access and refresh token it issued, to look for them where they must not be. */
  issued: Set<string>
}

/** A real oidc-provider 9 on 127.0.0.1, tracked by the leak check. */
export interface OidcServer {
  readonly issuer: string
  readonly tokenUrl: string
  readonly jwksUri: string
  readonly userinfoUrl: string
  /** The audience of the access tokens of the `client_credentials` kind (the resource server's identifier). */
  readonly audience: string
  readonly clientId: string
  readonly clientSecret: string
  /** Token endpoint requests, with the `error` of each failed one. */
  readonly grants: { status: number; error?: string; dpop: boolean }[]
  readonly counts: OidcCounts
  /** A refresh token of a new grant (`refresh_token` kind), obtained with the test's own grant type (no browser). */
  newRefreshToken(): Promise<string>
  close(): Promise<void>
}

export interface OidcOptions {
  /**
   * What the provider is set up for:
   * - `client_credentials`: the client credentials grant with `features.dPoP` (nonces required)
   *   and JWT access tokens for {@link OidcServer.audience};
   * - `refresh_token`: `rotateRefreshToken: true` (a used refresh token coming back revokes the
   *   grant), a userinfo endpoint, and an extra grant type that hands out a refresh token for a
   *   test user (the part of a login a test cannot drive).
   */
  kind: 'client_credentials' | 'refresh_token'
  /** @default 10 */
  accessTokenTtlS?: number
  /** The client's scopes (`client_credentials`). @default 'api:read api:write' */
  scope?: string
}

const passwordGrant = 'urn:refreshing-client:test:password'

/** startOidcProvider runs oidc-provider set up for `options.kind`; everything else is oidc-provider's own code. */
export async function startOidcProvider(options: OidcOptions): Promise<OidcServer> {
  const server = createServer()
  const listening = await listen(server)
  const issuer = listening.origin
  const audience = 'http://127.0.0.1/resource'
  const accessTokenTtlS = options.accessTokenTtlS ?? 10
  const ec = await generateKeyPair('ES256', { extractable: true })
  const rsa = await generateKeyPair('RS256', { extractable: true })
  const keys = [
    { ...(await exportJWK(rsa.privateKey)), alg: 'RS256', use: 'sig', kid: 'rsa' },
    { ...(await exportJWK(ec.privateKey)), alg: 'ES256', use: 'sig', kid: 'ec' },
  ]
  const clientId = options.kind === 'client_credentials' ? 'dpop-service' : 'host-agent'
  const clientSecret = randomBytes(16).toString('hex')
  const configuration: Configuration =
    options.kind === 'client_credentials'
      ? clientCredentialsConfiguration(clientId, clientSecret, audience, accessTokenTtlS, options.scope)
      : refreshTokenConfiguration(clientId, clientSecret, accessTokenTtlS)
  const provider = new Provider(issuer, { jwks: { keys }, ...configuration })
  if (options.kind === 'refresh_token') registerPasswordGrant(provider, clientId)

  const grants: OidcServer['grants'] = []
  const counts: OidcCounts = {
    refreshGrants: [],
    revocations: 0,
    invalidGrants: 0,
    userinfo: new Map(),
    issued: new Set(),
  }
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    grants.push({ status: ctx.status, dpop: ctx.get('dpop') !== '' })
    if (ctx.oidc.params?.['grant_type'] === 'refresh_token') counts.refreshGrants.push(Date.now())
  })
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: { error?: string }) => {
    grants.push({ status: ctx.status, error: error.error ?? 'unknown', dpop: ctx.get('dpop') !== '' })
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
    jwksUri: `${issuer}/jwks`,
    userinfoUrl: `${issuer}/me`,
    audience,
    clientId,
    clientSecret,
    grants,
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
    close: listening.close,
  }
}

function clientCredentialsConfiguration(
  clientId: string,
  clientSecret: string,
  audience: string,
  accessTokenTtlS: number,
  scope = 'api:read api:write',
): Configuration {
  return {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope,
      },
    ],
    scopes: scope.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope,
          audience,
          accessTokenTTL: accessTokenTtlS,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  }
}

function refreshTokenConfiguration(clientId: string, clientSecret: string, accessTokenTtlS: number): Configuration {
  return {
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
  } as never
}

function registerPasswordGrant(provider: Provider, clientId: string): void {
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
}
