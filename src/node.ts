/**
 * The `refreshing-client/node` entry: what needs Node.js APIs (the file system, the environment), kept out of
 * the main entry so that it runs on every runtime with `fetch`.
 *
 * @module
 */

export { type NodeRequestListener, toNodeHandler } from './push/node-handler.js'
export { type FileTokenOptions, fileToken } from './sources/file-token.js'
export { type GithubActionsOidcOptions, githubActionsOidc } from './sources/github-actions-oidc.js'
export {
  createFileStore,
  type FileStoreOptions,
  type FileTokenStore,
  fileStoreDefaults,
} from './store/file-store.js'
