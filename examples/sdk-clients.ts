// Recipe: client.fetch in SDKs and HTTP clients that take a fetch: the OpenAI SDK (`fetch`),
// axios (its fetch adapter, `env.fetch`) and openapi-fetch (`fetch`). Each call carries a fresh
// token; after a revocation, each refused call is replayed once with the one new token.
import axios from 'axios'
import OpenAI from 'openai'
import createOpenApiClient from 'openapi-fetch'
import { clientCredentials, RefreshingClient } from 'refreshing-client'
import { startFakeApi } from './support/fake-api.js'

// The shape openapi-typescript would generate from the API's OpenAPI document.
interface Paths {
  '/pets/{id}': {
    get: {
      parameters: { path: { id: number } }
      responses: { 200: { content: { 'application/json': { id: number; name: string } } } }
    }
  }
}

async function main(): Promise<void> {
  const api = await startFakeApi()
  const client = new RefreshingClient({
    baseUrl: api.url,
    tokens: { fetchToken: clientCredentials({ tokenUrl: api.tokenUrl, clientId: 'app', clientSecret: 's3cret' }) },
  })

  // The SDK's own apiKey would be sent as a static header; `client.fetch` replaces it on every call.
  const openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', fetch: client.fetch, maxRetries: 0 })
  const http = axios.create({ baseURL: api.url, adapter: 'fetch', env: { fetch: client.fetch } })
  const pets = createOpenApiClient<Paths>({ baseUrl: api.url, fetch: client.fetch })

  const ask = () => openai.chat.completions.create({ model: 'fake-1', messages: [{ role: 'user', content: 'ping' }] })
  console.log('openai:', (await ask()).choices[0]?.message.content)
  console.log('axios:', (await http.get('/pets/1')).data.name)
  console.log('openapi-fetch:', (await pets.GET('/pets/{id}', { params: { path: { id: 1 } } })).data?.name)

  api.revokeAll()
  const before = api.stats.tokenRequests
  const results = await Promise.allSettled([
    ...Array.from({ length: 10 }, ask),
    ...Array.from({ length: 10 }, () => http.get('/pets/1')),
    // openapi-fetch resolves with `{ error, response }` on a 4xx instead of throwing.
    ...Array.from({ length: 10 }, () =>
      pets.GET('/pets/{id}', { params: { path: { id: 1 } } }).then(({ response }) => {
        if (!response.ok) throw new Error(`openapi-fetch: ${response.status}`)
      }),
    ),
  ])
  const ok = results.filter((result) => result.status === 'fulfilled').length
  console.log(`after a revocation: ${ok}/30 ok, ${api.stats.tokenRequests - before} token request`)

  client.dispose()
  await api.close()
}

void main()
