import { type ParseArgsConfig, parseArgs } from 'node:util'

/** UsageError is a mistake on the command line: the program prints it with a hint and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** The options every command takes to say where tokens come from. */
export const sourceOptions = {
  'token-url': { type: 'string' },
  issuer: { type: 'string' },
  'protected-resource': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-env': { type: 'string' },
  'client-secret-file': { type: 'string' },
  'private-key-file': { type: 'string' },
  'refresh-token-env': { type: 'string' },
  scope: { type: 'string' },
  resource: { type: 'string', multiple: true },
  audience: { type: 'string' },
  'token-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options']

// Secrets are never taken from argv, where `ps`, shell history and CI logs show them.
const secretFlags: Readonly<Record<string, string>> = {
  'client-secret': '--client-secret-env NAME or --client-secret-file PATH',
  secret: '--client-secret-env NAME or --client-secret-file PATH',
  'refresh-token': '--refresh-token-env NAME',
  token: '--token-file PATH',
  'access-token': '--token-file PATH',
  'private-key': '--private-key-file PATH',
  password: '--client-secret-env NAME or --client-secret-file PATH',
  'local-token': '--local-token-env NAME',
}

/**
 * parse reads `args` with node:util's `parseArgs` (strict: an unknown option or a stray argument
 * is a {@link UsageError}), refusing any option that would put a secret in argv.
 */
export function parse<const O extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>['values'] {
  for (const arg of args) {
    const name = /^--([^=]+)/.exec(arg)?.[1]
    const instead = name === undefined ? undefined : secretFlags[name]
    if (instead !== undefined) {
      throw new UsageError(`--${name} would put a secret in the command line, where others can read it: use ${instead}`)
    }
  }
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values
  } catch (error) {
    // parseArgs' messages name the option, never a value.
    throw new UsageError(
      error instanceof Error ? error.message.replace(/\. To specify a positional.*$/s, '') : 'bad usage',
    )
  }
}

/** sourceHelp describes the source options, for every command's `--help`. */
export const sourceHelp = `Where tokens come from (one of):
  --token-url URL             an OAuth2 token endpoint
  --issuer URL                an authorization server, found by RFC 8414 / OpenID discovery
  --protected-resource URL    a protected resource (RFC 9728), whose authorization server is used
  --token-file PATH           a token file that another process rotates (re-read on every refresh)

With an endpoint: client credentials, or the refresh-token grant with --refresh-token-env:
  --client-id ID              the OAuth2 client id
  --client-secret-env NAME    read the client secret from environment variable NAME
  --client-secret-file PATH   read the client secret from a file
  --private-key-file PATH     sign client assertions (private_key_jwt) with this JWK or PKCS#8 PEM key
  --refresh-token-env NAME    read a refresh token from environment variable NAME
  --scope SCOPE               the scope to ask for, space-separated
  --resource URI              an RFC 8707 resource indicator (repeatable)
  --audience AUD              the audience parameter some servers use

Secrets are read only from the environment or files, never from the command line.`
