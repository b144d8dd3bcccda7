import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The 30-day soaks run with `npm run test:soak` (vitest.soak.config.mts), the MCP load run
    // alone with `npm run test:mcp` (vitest.mcp.config.mts).
    exclude: [...configDefaults.exclude, 'test/soak/**', 'test/mcp/**'],
    setupFiles: ['test/helpers/setup.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Unhandled rejections fail the run (vitest's default): keep it that way.
    dangerouslyIgnoreUnhandledErrors: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    coverage: {
      provider: 'v8',
      include: ['src/**'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 90, branches: 90, functions: 90, statements: 90 },
    },
  },
})
