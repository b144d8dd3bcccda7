import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'

/** A real oidc-provider on 127.0.0.1, with DPoP nonces required and 10-second JWT access tokens. */
export interface OidcServer {
  readonly issuer: string
  readonly tokenUrl: string
  readonly jwksUri: string
  /** The audience of the access tokens (the resource server's identifier). */
  readonly audience: string
  readonly clientId: string
  readonly clientSecret: string
  /** Token endpoint requests, with the `error` of each failed one. */
  readonly grants: { status: number; error?: string; dpop: boolean }[]
  close(): Promise<void>
}

/** startOidcProvider runs oidc-provider 9 with `features.dPoP` (nonces required) and client credentials. */
export async function startOidcProvider(
  options: { accessTokenTtlS?: number; scope?: string } = {},
): Promise<OidcServer> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const audience = 'http://127.0.0.1/resource'
  const scope = options.scope ?? 'api:read api:write'
  const ec = await generateKeyPair('ES256', { extractable: true })
  const rsa = await generateKeyPair('RS256', { extractable: true })
  const keys = [
    { ...(await exportJWK(rsa.privateKey)), alg: 'RS256', use: 'sig', kid: 'rsa' },
    { ...(await exportJWK(ec.privateKey)), alg: 'ES256', use: 'sig', kid: 'ec' },
  ]
  const clientId = 'dpop-service'
  const clientSecret = randomBytes(16).toString('hex')
  const provider = new Provider(issuer, {
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
    jwks: { keys },
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
          accessTokenTTL: options.accessTokenTtlS ?? 10,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  })
  const grants: OidcServer['grants'] = []
  provider.on('grant.error', (ctx, error: { error?: string }) => {
    grants.push({ status: ctx.status, error: error.error ?? 'unknown', dpop: ctx.get('dpop') !== '' })
  })
  provider.on('grant.success', (ctx) => {
    grants.push({ status: ctx.status, dpop: ctx.get('dpop') !== '' })
  })
  server.on('request', provider.callback())
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    audience,
    clientId,
    clientSecret,
    grants,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
