// Real HS256 JWTs for the benchmark servers, signed with jose (as the tests' helpers do).
import { SignJWT } from 'jose'

/** The secret the benchmark servers verify with. */
export const secret = new TextEncoder().encode('refreshing-client bench secret, 32+ bytes long')

let counter = 0

/** mint signs a JWT for `sub`, valid for `lifetimeMs` from now, or until `exp` (epoch seconds) when given. */
export function mint({ sub = 'agent', lifetimeMs = 3_600_000, exp } = {}) {
  const iat = Math.floor(Date.now() / 1000)
  return new SignJWT({ jti: `b${++counter}` })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(exp ?? iat + Math.round(lifetimeMs / 1000))
    .sign(secret)
}
