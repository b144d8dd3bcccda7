// Recipe 5: client.fetch as the fetch of a fetch-based SDK. Many SDKs take a `fetch` option; give
// them the client's (it is bound) and every call carries a fresh token and gets the one 401 retry.
import ky from 'ky'
import { RefreshingClient } from 'refreshing-client'
import { startTown } from './support/town.js'

// A stand-in for an SDK that takes `fetch`, as OpenAI's, Anthropic's and many others do.
class ToolsSdk {
  constructor(private readonly options: { baseURL: string; fetch: typeof fetch }) {}
  async run(agent: string, tool: string): Promise<{ ok: boolean }> {
    const response = await this.options.fetch(`${this.options.baseURL}/agents/${agent}/tools/${tool}`, {
      method: 'POST',
    })
    return (await response.json()) as { ok: boolean }
  }
}

async function main(): Promise<void> {
  const town = await startTown()
  const client = new RefreshingClient({ baseUrl: town.api, tokens: { fetchToken: town.tokenFor('agent-9') } })

  const sdk = new ToolsSdk({ baseURL: town.api, fetch: client.fetch })
  console.log('sdk:', await sdk.run('agent-9', 'search'))

  const api = ky.create({ prefix: town.api, fetch: client.fetch }) // or simply client.ky
  console.log('ky:', await api.post('agents/agent-9/tools/read').json())

  client.dispose()
  await town.close()
}

void main()
