// The clients compared in the throughput and storm benchmarks. Each variant starts with the same
// valid token and, on a 401, refreshes from the same token endpoint in its own way. `request()`
// sends GET /items, reads the body, and resolves to `true` when the final answer was a 200, else
// to why not (`status 401`, or the error's name and code).
import axios from 'axios'
import { createAuthRefresh } from 'axios-auth-refresh'
import ky from 'ky'
import { distEntry } from './harness.mjs'

const { RefreshingClient } = await import(distEntry)

/** The variants, by name, in the order of the tables. */
export const variantNames = ['raw fetch', 'client.fetch', 'client.ky', 'ky + README refresh hook', 'axios-auth-refresh']

/** createVariant makes one client over `origin`, holding `token`, refreshing from `tokenUrl`. */
export function createVariant(name, { origin, tokenUrl, token }) {
  switch (name) {
    case 'raw fetch': {
      // The floor: fetch with the header written by hand, no refresh at all.
      const url = `${origin}/items`
      const init = { headers: { authorization: `Bearer ${token}` } }
      return () => fetch(url, init).then(read).catch(no)
    }
    case 'client.fetch': {
      const client = ourClient(origin, tokenUrl, token)
      return () => client.fetch('/items').then(read).catch(no)
    }
    case 'client.ky': {
      const api = ourClient(origin, tokenUrl, token).ky
      return () => api.get('items').arrayBuffer().then(yes, no)
    }
    case 'ky + README refresh hook':
      return kyRecipe(origin, tokenUrl, token)
    case 'axios-auth-refresh':
      return axiosAuthRefresh(origin, tokenUrl, token)
    default:
      throw new TypeError(`no such variant: ${name}`)
  }
}

function ourClient(origin, tokenUrl, token) {
  const fetchToken = async ({ signal }) => {
    const response = await fetch(tokenUrl, { method: 'POST', signal })
    return (await response.json()).access_token
  }
  return new RefreshingClient({ tokens: { initialToken: token, fetchToken }, baseUrl: origin })
}

// ky 2.1's README (hooks.afterResponse): "retry with a fresh token on a 401 error", with the token
// kept in a variable that a beforeRequest hook writes into each request. ky's defaults otherwise,
// but for its 10 s per-request timeout: the other clients have none, and in a storm of 10,000 on
// a busy 2-core machine it would turn thousands of slow requests into TimeoutErrors, hiding what
// the recipe itself does.
function kyRecipe(origin, tokenUrl, initial) {
  let token = initial
  const api = ky.create({
    baseUrl: origin,
    timeout: false,
    hooks: {
      beforeRequest: [
        ({ request }) => {
          request.headers.set('Authorization', `Bearer ${token}`)
        },
      ],
      afterResponse: [
        async ({ request, response, retryCount }) => {
          if (response.status === 401 && retryCount === 0) {
            // Only refresh on first 401, not on subsequent retries
            const { access_token } = await ky.post(tokenUrl, { timeout: false }).json()
            token = access_token
            const headers = new Headers(request.headers)
            headers.set('Authorization', `Bearer ${access_token}`)
            return ky.retry({ request: new Request(request, { headers }), code: 'TOKEN_REFRESHED' })
          }
        },
      ],
    },
  })
  return () => api.get('items').arrayBuffer().then(yes, no)
}

// axios-auth-refresh 5's README: a request interceptor that writes the current token, and
// createAuthRefresh with its default options and the README's refreshAuthLogic.
function axiosAuthRefresh(origin, tokenUrl, initial) {
  let token = initial
  const api = axios.create({ baseURL: origin })
  api.interceptors.request.use((request) => {
    request.headers['Authorization'] = `Bearer ${token}`
    return request
  })
  const refreshAuthLogic = (failedRequest) =>
    axios.post(tokenUrl).then((tokenRefreshResponse) => {
      token = tokenRefreshResponse.data.access_token
      failedRequest.response.config.headers['Authorization'] = `Bearer ${token}`
      return Promise.resolve()
    })
  createAuthRefresh(api, refreshAuthLogic)
  return () => api.get('/items').then((response) => outcome(response.status), no)
}

async function read(response) {
  await response.arrayBuffer()
  return outcome(response.status)
}

function outcome(status) {
  return status === 200 ? true : `status ${status}`
}

function yes() {
  return true
}

// ky's HTTPError and axios's AxiosError carry the response; other errors are named with their code.
function no(error) {
  const status = error?.response?.status
  if (typeof status === 'number') return `status ${status}`
  const code = error?.code ?? error?.cause?.code
  return `${error?.name ?? typeof error}${code === undefined ? '' : ` ${code}`}`
}
