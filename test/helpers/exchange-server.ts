import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { errors, exportJWK, generateKeyPair, type JWTVerifyGetKey, jwtVerify } from 'jose'
import Provider, { type KoaContextWithOIDC } from 'oidc-provider'

export const tokenExchangeGrant = 'urn:ietf:params:oauth:grant-type:token-exchange'
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token'

/** What the authorization server saw of the exchanges. */
export interface ExchangeCounts {
  /** Exchanges answered with a token, with the `jti` of the subject presented. */
  exchanged: string[]
  /** Subjects refused because their `exp` had passed (jose's `JWTExpired`), by the server's clock. */
  expiredSubjects: number
  /** Every other refusal, by its error. */
  refused: string[]
}

/** A real oidc-provider on 127.0.0.1 with an RFC 8693 token-exchange grant. */
export interface ExchangeServer {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  /** The `aud` of the API tokens it issues, and the `resource` to ask for. */
  readonly apiAudience: string
  readonly counts: ExchangeCounts
  /** Verifies an API token it issued (signature, issuer, audience, `exp`). */
  verify(token: string): Promise<void>
  close(): Promise<void>
}

/**
 * startExchangeServer runs oidc-provider with a token-exchange grant registered through
 * `registerGrantType`: it verifies the subject JWT against the cluster issuer's key (`subjectKey`,
 * issuer `subjectIssuer`, audience this server's issuer), enforcing its `exp` with no leeway, and
 * issues a JWT access token of `accessTokenTtlS` seconds for `apiAudience` through oidc-provider's
 * own `ClientCredentials` model (its signing keys, its TTL, its JWT format).
 */
export async function startExchangeServer(options: {
  subjectKey: JWTVerifyGetKey | CryptoKey
  subjectIssuer: string
  accessTokenTtlS: number
}): Promise<ExchangeServer> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const apiAudience = 'https://api.example.test'
  const clientId = 'agent-runner'
  const clientSecret = randomBytes(16).toString('hex')
  const signing = await generateKeyPair('ES256', { extractable: true })
  const counts: ExchangeCounts = { exchanged: [], expiredSubjects: 0, refused: [] }
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: [tokenExchangeGrant],
        id_token_signed_response_alg: 'ES256',
        redirect_uris: [],
        response_types: [],
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), alg: 'ES256', use: 'sig', kid: 'api' }] },
    features: { devInteractions: { enabled: false } },
    ttl: { ClientCredentials: options.accessTokenTtlS },
    cookies: { keys: ['test-cookie-key'] },
  } as never)

  provider.registerGrantType(
    tokenExchangeGrant,
    async (ctx: KoaContextWithOIDC) => {
      const params = ctx.oidc.params as Record<string, string | undefined>
      const refuse = (error: string, description: string) => {
        counts.refused.push(error)
        ctx.status = 400
        ctx.body = { error, error_description: description }
      }
      if (params['subject_token_type'] !== 'urn:ietf:params:oauth:token-type:jwt') {
        return refuse('invalid_request', 'unsupported subject_token_type')
      }
      let jti: string
      try {
        const { payload } = await jwtVerify(params['subject_token'] ?? '', options.subjectKey as CryptoKey, {
          issuer: options.subjectIssuer,
          audience: issuer,
          clockTolerance: 0,
        })
        jti = String(payload.jti)
      } catch (error) {
        if (error instanceof errors.JWTExpired) {
          counts.expiredSubjects++
          ctx.status = 400
          ctx.body = { error: 'invalid_grant', error_description: 'subject token expired' }
          return
        }
        return refuse('invalid_grant', 'subject token rejected')
      }
      if (params['resource'] !== apiAudience) return refuse('invalid_target', 'unknown resource')
      const { ClientCredentials, ResourceServer } = ctx.oidc.provider
      const token = new ClientCredentials({ client: ctx.oidc.client as never })
      token.resourceServer = new ResourceServer(apiAudience, {
        audience: apiAudience,
        scope: '',
        accessTokenTTL: options.accessTokenTtlS,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      })
      const value = await token.save()
      counts.exchanged.push(jti)
      ctx.body = {
        access_token: value,
        issued_token_type: accessTokenType,
        token_type: 'Bearer',
        expires_in: token.expiration,
      }
    },
    ['subject_token', 'subject_token_type', 'resource', 'audience'],
  )
  server.on('request', provider.callback())

  const publicKey = signing.publicKey
  return {
    issuer,
    clientId,
    clientSecret,
    apiAudience,
    counts,
    async verify(token) {
      await jwtVerify(token, publicKey, { issuer, audience: apiAudience, clockTolerance: 0 })
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
