import { createPrivateKey } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { JWK } from 'jose'
import { type ClientCredentialsOptions, clientCredentials } from '../sources/client-credentials.js'
import { fileToken } from '../sources/file-token.js'
import { type RefreshTokenGrantOptions, refreshTokenGrant } from '../sources/refresh-token-grant.js'
import type { FetchToken } from '../token/types.js'
import { UsageError } from './options.js'

/** SourceValues are the parsed source options (see `sourceOptions`). */
export interface SourceValues {
  'token-url'?: string | undefined
  issuer?: string | undefined
  'protected-resource'?: string | undefined
  'client-id'?: string | undefined
  'client-secret-env'?: string | undefined
  'client-secret-file'?: string | undefined
  'private-key-file'?: string | undefined
  'refresh-token-env'?: string | undefined
  scope?: string | undefined
  resource?: string[] | undefined
  audience?: string | undefined
  'token-file'?: string | undefined
}

/** A token source, and a name for it that holds no secret (for the provider's messages). */
export interface Source {
  fetchToken: FetchToken
  name: string
}

/**
 * sourceFrom builds the token source the options describe. Secrets come only from the environment
 * and from files. Throws a {@link UsageError} for a missing, conflicting or unreadable option.
 */
export async function sourceFrom(values: SourceValues, env: NodeJS.ProcessEnv): Promise<Source> {
  const where = (['token-url', 'issuer', 'protected-resource', 'token-file'] as const).filter(
    (name) => values[name] !== undefined,
  )
  if (where.length !== 1) {
    throw new UsageError(
      where.length === 0
        ? 'say where tokens come from: --token-url, --issuer, --protected-resource or --token-file'
        : `choose one of ${where.map((name) => `--${name}`).join(', ')}`,
    )
  }
  if (values['token-file'] !== undefined) {
    const others = Object.keys(values).filter((name) => name !== 'token-file' && name !== 'help')
    if (others.length > 0) throw new UsageError(`--token-file takes no other source option (got --${others[0]})`)
    return { fetchToken: fileToken(values['token-file']), name: 'token file' }
  }
  const clientId = values['client-id']
  if (clientId === undefined || clientId === '') throw new UsageError('--client-id is required with a token endpoint')
  const endpoint = {
    ...(values['token-url'] === undefined ? {} : { tokenUrl: values['token-url'] }),
    ...(values.issuer === undefined ? {} : { issuer: values.issuer }),
    ...(values['protected-resource'] === undefined ? {} : { protectedResource: values['protected-resource'] }),
    ...(values.resource === undefined ? {} : { resource: values.resource }),
    ...(values.scope === undefined ? {} : { scope: values.scope }),
    clientId,
  }
  const auth = await clientAuth(values, env)
  try {
    const refreshTokenEnv = values['refresh-token-env']
    if (refreshTokenEnv !== undefined) {
      if (values.audience !== undefined)
        throw new UsageError('--audience is for client credentials, not a refresh token')
      const refreshToken = fromEnv(env, refreshTokenEnv, '--refresh-token-env')
      const options = { ...endpoint, ...auth, refreshToken } as RefreshTokenGrantOptions
      return { fetchToken: refreshTokenGrant(options), name: `client ${clientId}` }
    }
    if (Object.keys(auth).length === 0) {
      throw new UsageError(
        'client credentials need --client-secret-env, --client-secret-file or --private-key-file (or use --refresh-token-env)',
      )
    }
    const audience = values.audience === undefined ? {} : { audience: values.audience }
    const options = { ...endpoint, ...auth, ...audience } as ClientCredentialsOptions
    return { fetchToken: clientCredentials(options), name: `client ${clientId}` }
  } catch (error) {
    // The sources check their options with a TypeError or RangeError naming the option, never a secret.
    if (error instanceof TypeError || error instanceof RangeError) throw new UsageError(error.message)
    throw error
  }
}

async function clientAuth(values: SourceValues, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const given = (['client-secret-env', 'client-secret-file', 'private-key-file'] as const).filter(
    (name) => values[name] !== undefined,
  )
  if (given.length > 1) throw new UsageError(`choose one of ${given.map((name) => `--${name}`).join(', ')}`)
  const secretEnv = values['client-secret-env']
  if (secretEnv !== undefined) return { clientSecret: fromEnv(env, secretEnv, '--client-secret-env') }
  const secretFile = values['client-secret-file']
  if (secretFile !== undefined) return { clientSecret: await fromFile(secretFile, '--client-secret-file') }
  const keyFile = values['private-key-file']
  if (keyFile !== undefined) {
    return { authMethod: 'private_key_jwt', privateKey: privateJwk(await fromFile(keyFile, '--private-key-file')) }
  }
  return {}
}

function fromEnv(env: NodeJS.ProcessEnv, name: string, option: string): string {
  const value = env[name]?.trim()
  if (value === undefined || value === '')
    throw new UsageError(`${option}: the environment variable ${name} is not set`)
  return value
}

async function fromFile(path: string, option: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as { code?: unknown }).code
    throw new UsageError(`${option}: cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`)
  }
  const value = text.trim()
  if (value === '') throw new UsageError(`${option}: ${path} is empty`)
  return value
}

// A private JWK as it is, or a PEM key (PKCS#8, SEC1 or PKCS#1) turned into one by node:crypto.
function privateJwk(text: string): JWK {
  try {
    const jwk = text.startsWith('{')
      ? (JSON.parse(text) as JWK)
      : (createPrivateKey({ key: text, format: 'pem' }).export({ format: 'jwk' }) as JWK)
    if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') throw new Error('not private')
    return jwk
  } catch {
    throw new UsageError('--private-key-file: the file is not a private key (a private JWK, or a PEM private key)')
  }
}
