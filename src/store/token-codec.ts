import { AuthError } from '../errors.js'
import { isCryptoKey, isRecord } from '../internal/guards.js'
import type { TokenSet } from '../token/token-set.js'

/**
 * The stored form of a token, shared by the Redis and file stores: a JSON envelope whose `e`
 * (expiresAt) and `i` (issuedAt) stay in the clear, because the compare-and-set compares them
 * without the key, and whose token is either plain (`t`) or AES-GCM ciphertext (`c`, base64 of IV
 * then ciphertext and tag).
 *
 * With encryption, the associated data binds the store's format, the key name and `e` and `i`: a
 * ciphertext copied to another key or store, or an envelope whose times were edited to win the
 * compare-and-set, fails to decrypt.
 */
interface Envelope {
  v: 1
  e?: number
  i?: number
  t?: TokenSet
  c?: string
}

/** The bytes of the random IV of each write: 96 bits, as AES-GCM is specified for. */
const ivBytes = 12
const keyBytes: ReadonlySet<number> = new Set([16, 24, 32])

/** TokenCodec turns a token into the string stored under a key (a Redis key, a file store's key), and back. */
export interface TokenCodec {
  /** Whether tokens are encrypted. */
  readonly encrypted: boolean
  encode(token: TokenSet, name: string): Promise<string>
  /** Throws a `CodecError` (and nothing else) for anything that is not a token this codec wrote for `name`. */
  decode(raw: string, name: string): Promise<TokenSet>
}

/** CodecError says why a stored value could not be read (`ERR_STORE_UNREADABLE`); its message never quotes the value. */
export class CodecError extends AuthError {
  override name = 'CodecError'
  constructor(message: string) {
    super(message, { code: 'ERR_STORE_UNREADABLE' })
  }
}

/**
 * checkEncryptionKey validates `key` at once, so that a wrong key is a construction error rather
 * than a failure of the first write: a `RangeError` for a wrong length, a `TypeError` otherwise.
 */
export function checkEncryptionKey(key: unknown): asserts key is CryptoKey | Uint8Array {
  if (key instanceof Uint8Array) {
    if (!keyBytes.has(key.byteLength)) {
      throw new RangeError(
        `encryptionKey must be 128, 192 or 256 bits (16, 24 or 32 bytes), got ${key.byteLength} bytes`,
      )
    }
    return
  }
  if (!isCryptoKey(key)) throw new TypeError('encryptionKey must be a CryptoKey or a Uint8Array')
  // WebCrypto makes AES keys of 128, 192 or 256 bits only: the length needs no check.
  const algorithm = key.algorithm as { name?: string }
  if (key.type !== 'secret' || algorithm.name !== 'AES-GCM') {
    throw new TypeError(`encryptionKey must be an AES-GCM key, got ${key.type} ${String(algorithm.name)}`)
  }
  if (!key.usages.includes('encrypt') || !key.usages.includes('decrypt')) {
    throw new TypeError('encryptionKey must allow both "encrypt" and "decrypt"')
  }
}

/** plainCodec stores the token as JSON. */
export const plainCodec: TokenCodec = Object.freeze({
  encrypted: false,
  async encode(token: TokenSet): Promise<string> {
    return JSON.stringify({ ...times(token), t: fields(token) } satisfies Envelope)
  },
  async decode(raw: string): Promise<TokenSet> {
    const envelope = parseEnvelope(raw)
    if (envelope.t === undefined) throw new CodecError('the stored token is encrypted, and no encryptionKey is set')
    const token = toTokenSet(envelope.t)
    if (token.expiresAt !== envelope.e || token.issuedAt !== envelope.i) {
      throw new CodecError('the times of the stored token do not match its envelope')
    }
    return token
  },
})

/**
 * aesGcmCodec encrypts with AES-GCM under `key` (validated with {@link checkEncryptionKey}). A raw
 * key is imported once, not extractable; the caller may wipe its bytes afterwards. `format` names
 * the store in the associated data (`'refreshing-client/redis v1'`), so that a value never moves
 * between kinds of store.
 */
export function aesGcmCodec(key: CryptoKey | Uint8Array, format: string): TokenCodec {
  const subtle = globalThis.crypto.subtle
  const cryptoKey =
    key instanceof Uint8Array
      ? subtle.importKey('raw', new Uint8Array(key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
      : Promise.resolve(key)
  // An import failure surfaces on each call; this keeps it from being an unhandled rejection meanwhile.
  cryptoKey.catch(() => {})
  return Object.freeze({
    encrypted: true,
    async encode(token: TokenSet, name: string): Promise<string> {
      const envelope: Envelope = times(token)
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(ivBytes))
      const plaintext = new TextEncoder().encode(JSON.stringify(fields(token)))
      const sealed = await subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: associatedData(format, name, envelope) },
        await cryptoKey,
        plaintext,
      )
      envelope.c = Buffer.concat([iv, new Uint8Array(sealed)]).toString('base64')
      return JSON.stringify(envelope)
    },
    async decode(raw: string, name: string): Promise<TokenSet> {
      const envelope = parseEnvelope(raw)
      if (envelope.c === undefined) throw new CodecError('the stored token is not encrypted')
      const bytes = new Uint8Array(Buffer.from(envelope.c, 'base64'))
      let opened: ArrayBuffer
      try {
        const key = await cryptoKey
        opened = await subtle.decrypt(
          { name: 'AES-GCM', iv: bytes.subarray(0, ivBytes), additionalData: associatedData(format, name, envelope) },
          key,
          bytes.subarray(ivBytes),
        )
      } catch {
        // WebCrypto says only "operation failed"; the causes are these three.
        throw new CodecError(
          'the stored token could not be decrypted (another encryption key, another store key, or edited)',
        )
      }
      const token = toTokenSet(parseJson(new TextDecoder().decode(opened)))
      if (token.expiresAt !== envelope.e || token.issuedAt !== envelope.i) {
        throw new CodecError('the times of the stored token do not match its envelope')
      }
      return token
    },
  })
}

function associatedData(format: string, name: string, envelope: Envelope): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify([format, name, envelope.e ?? null, envelope.i ?? null]))
}

function times(token: TokenSet): Envelope {
  const envelope: Envelope = { v: 1 }
  if (token.expiresAt !== undefined) envelope.e = token.expiresAt
  if (token.issuedAt !== undefined) envelope.i = token.issuedAt
  return envelope
}

/** The optional string fields of a TokenSet that a store keeps. */
const textFields = ['refreshToken', 'tokenType', 'scope', 'issuedTokenType'] as const

/** Only the fields of a TokenSet, so that nothing else a caller attached is stored. */
function fields(token: TokenSet): TokenSet {
  const copy: TokenSet = { accessToken: token.accessToken }
  if (token.expiresAt !== undefined) copy.expiresAt = token.expiresAt
  if (token.issuedAt !== undefined) copy.issuedAt = token.issuedAt
  for (const key of textFields) if (token[key] !== undefined) copy[key] = token[key]
  return copy
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    // JSON.parse's message quotes the text around the error.
    throw new CodecError('the stored value is not JSON')
  }
}

function parseEnvelope(raw: string): Envelope {
  const value = parseJson(raw)
  if (!isRecord(value) || value['v'] !== 1) throw new CodecError('the stored value is not a token envelope')
  const envelope: Envelope = { v: 1 }
  for (const key of ['e', 'i'] as const) {
    const time = value[key]
    if (time === undefined) continue
    if (typeof time !== 'number' || !Number.isFinite(time)) throw new CodecError(`"${key}" is not a finite number`)
    envelope[key] = time
  }
  if (value['t'] !== undefined) envelope.t = value['t'] as TokenSet
  if (typeof value['c'] === 'string') envelope.c = value['c']
  return envelope
}

function toTokenSet(value: unknown): TokenSet {
  if (!isRecord(value)) throw new CodecError('the stored token is not an object')
  const { accessToken, expiresAt, issuedAt } = value
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    throw new CodecError('the stored token has no "accessToken"')
  }
  const token: TokenSet = { accessToken }
  if (expiresAt !== undefined) token.expiresAt = finite('expiresAt', expiresAt)
  if (issuedAt !== undefined) token.issuedAt = finite('issuedAt', issuedAt)
  for (const key of textFields) if (value[key] !== undefined) token[key] = text(key, value[key])
  return token
}

function finite(key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new CodecError(`"${key}" is not a finite number`)
  return value
}

function text(key: string, value: unknown): string {
  if (typeof value !== 'string') throw new CodecError(`"${key}" is not a string`)
  return value
}
