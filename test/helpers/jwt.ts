import { SignJWT } from 'jose'

/** The HS256 secret every test server shares. */
export const testSecret = new TextEncoder().encode('refreshing-client test secret, 32+ bytes long')

export interface MintOptions {
  sub?: string
  /** Issue time in epoch ms (default: Date.now(), which fake timers control). */
  issuedAt?: number
  /** Lifetime in ms (default one hour). */
  lifetimeMs?: number
  /** Extra claims; `jti` defaults to a counter so two tokens minted in one second differ. */
  claims?: Record<string, unknown>
  secret?: Uint8Array
}

let counter = 0

/** mint signs a real HS256 JWT with jose. */
export async function mint(options: MintOptions = {}): Promise<string> {
  const issuedAt = options.issuedAt ?? Date.now()
  const iat = Math.floor(issuedAt / 1000)
  const exp = iat + Math.round((options.lifetimeMs ?? 3_600_000) / 1000)
  const jwt = new SignJWT({ jti: `t${++counter}`, ...options.claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(iat)
    .setExpirationTime(exp)
  if (options.sub !== undefined) jwt.setSubject(options.sub)
  return jwt.sign(options.secret ?? testSecret)
}

/** unsigned builds a JWT-shaped string with the given header and payload JSON, unsigned. */
export function unsigned(payload: unknown, header: unknown = { alg: 'none' }): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode(header)}.${encode(payload)}.sig`
}
