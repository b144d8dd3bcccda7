/**
 * The `refreshing-client/redis` entry: a fleet's {@link TokenStore} in Redis, through the caller's
 * ioredis client. ioredis is an optional peer dependency that only this entry uses.
 *
 * @module
 */

export {
  createRedisStore,
  type RedisStoreOptions,
  type RedisTokenStore,
  redisStoreDefaults,
} from './store/redis-store.js'
export type { Lease, TokenStore } from './token/store.js'
