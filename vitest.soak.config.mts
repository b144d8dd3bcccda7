import { defineConfig } from 'vitest/config'

// `npm run test:soak`: the 30-day soaks of test/soak, which `npm test` leaves out (they take minutes).
export default defineConfig({
  test: {
    include: ['test/soak/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    dangerouslyIgnoreUnhandledErrors: false,
    testTimeout: 900_000,
  },
})
