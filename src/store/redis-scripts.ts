import { createHash } from 'node:crypto'

/** A Lua script and its SHA-1, by which Redis caches it. */
export interface LuaScript {
  readonly source: string
  readonly sha: string
}

function lua(source: string): LuaScript {
  return Object.freeze({ source, sha: createHash('sha1').update(source).digest('hex') })
}

/**
 * compareAndSet stores the envelope `ARGV[1]` under `KEYS[1]` for `ARGV[4]` ms, unless the stored
 * token is newer, and then publishes on channel `ARGV[5]`. Returns 1 when stored, 0 otherwise.
 *
 * "Newer" is the rule of `isNewer`: a later expiresAt (`ARGV[2]`, empty when unknown), or the same
 * and a later issuedAt (`ARGV[3]`). With the expiry unknown on either side, the new token wins:
 * the script cannot tell an identical encrypted token from another one. A stored value that is
 * not an envelope is replaced.
 */
export const compareAndSet = lua(`local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, old = pcall(cjson.decode, stored)
  if ok and type(old) == 'table' then
    local e, se = tonumber(ARGV[2]), tonumber(old.e)
    if e and se then
      if e < se then return 0 end
      if e == se and (tonumber(ARGV[3]) or -math.huge) <= (tonumber(old.i) or -math.huge) then return 0 end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[5], '')
return 1
`)

/**
 * compareAndDelete deletes `KEYS[1]` only while it still holds `ARGV[1]`: a lease only by its
 * owner, an unreadable token only if no one has replaced it since. Returns 1 when deleted.
 */
export const compareAndDelete = lua(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

/** Call sends one command to Redis. */
export type Call = (command: string, ...args: (string | number)[]) => Promise<unknown>

/**
 * runScript runs `script` by its SHA-1, and sends its source only when the server does not have it
 * cached yet (after a restart or a `SCRIPT FLUSH`).
 */
export async function runScript(
  call: Call,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await call('EVALSHA', script.sha, keys.length, ...keys, ...args)
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
    return call('EVAL', script.source, keys.length, ...keys, ...args)
  }
}
