import { defineConfig } from 'vitest/config'

// `npm run test:mcp`: the MCP load run of test/mcp, which `npm test` leaves out so that it runs
// alone (its 2-second tokens leave a margin of a few hundred ms, which a busy machine eats).
export default defineConfig({
  test: {
    include: ['test/mcp/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    dangerouslyIgnoreUnhandledErrors: false,
    testTimeout: 60_000,
    // Measured here at a load average of 9 on 2 cores (other work on the machine): 2 of 3 runs pass.
    // A failed attempt is run again; each attempt asserts the exact counts.
    retry: 2,
    hookTimeout: 20_000,
  },
})
