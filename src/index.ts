/**
 * The `refreshing-client` entry: the token provider, the refreshing client, scopes and heartbeats,
 * the push handler, the OAuth2 token sources and the fleet's token store. It runs on every runtime
 * with `fetch`; what needs Node.js is in `refreshing-client/node`, and Redis in `refreshing-client/redis`.
 *
 * @module
 */

export { RefreshingClient } from './client/client.js'
export type { ChallengeEvent } from './client/refusal.js'
export type { Authorize, RefreshingClientEvents, RefreshingClientOptions } from './client/types.js'
export { createDPoP, type DPoP, type DPoPAlgorithm, type DPoPOptions } from './dpop/dpop.js'
export {
  AuthError,
  type AuthErrorCode,
  type AuthErrorOptions,
  CrossOriginError,
  DisposedError,
  isAuthError,
  OAuth2Error,
  RefreshError,
  TokenDecodeError,
  UnauthorizedError,
} from './errors.js'
export { createHealthHandler, type HealthHandler } from './health/handler.js'
export {
  createTokenPushHandler,
  type PushVerifyOptions,
  type TokenPushHandler,
  type TokenPushHandlerOptions,
} from './push/handler.js'
export { getGlobalRegistry } from './registry/global.js'
export { startHeartbeat } from './registry/heartbeat.js'
export { createRegistry } from './registry/registry.js'
export type {
  HasDispose,
  Heartbeat,
  HeartbeatEvents,
  HeartbeatOptions,
  PushStatus,
  RefreshAllOptions,
  RefreshAllResult,
  RegistryHealth,
  Releasable,
  Scope,
  ScopeOptions,
  TokenRegistry,
  TokenRegistryEvents,
} from './registry/types.js'
export type { ClientAssertionAlgorithm } from './sources/client-assertion.js'
export type { ClientAuthMethod, ClientAuthOptions } from './sources/client-auth.js'
export { type ClientCredentialsOptions, clientCredentials } from './sources/client-credentials.js'
export {
  type DiscoveredTokenEndpoint,
  type DiscoverTokenEndpointOptions,
  discoverTokenEndpoint,
} from './sources/discovery.js'
export type { TokenEndpointOptions } from './sources/endpoint-options.js'
export { type JwtBearerOptions, jwtBearer } from './sources/jwt-bearer.js'
export { type RefreshTokenGrantOptions, refreshTokenGrant } from './sources/refresh-token-grant.js'
export type { SubjectToken } from './sources/subject-token.js'
export { type TokenExchangeOptions, tokenExchange } from './sources/token-exchange.js'
export { createMemoryStore, type MemoryStoreOptions } from './store/memory-store.js'
export { createTokenProvider } from './token/create.js'
export type { TokenProviderOptions } from './token/options.js'
export { providerDefaults } from './token/schedule.js'
export type { Lease, TokenStore } from './token/store.js'
export { type ParseTokenOptions, parseToken, type TokenInput, type TokenSet } from './token/token-set.js'
export type {
  FetchToken,
  FetchTokenContext,
  GetTokenOptions,
  RefreshReason,
  TokenHealth,
  TokenProvider,
  TokenProviderErrorEvent,
  TokenProviderEvents,
  TokenProviderState,
  TokenReason,
} from './token/types.js'
