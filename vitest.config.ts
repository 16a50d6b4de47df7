import { defineConfig } from 'vitest/config'

// Three projects: unit tests run in parallel threads; contract tests start an emulator each;
// integration/semantics/faults tests mount for real and run one file at a time in forked processes.
export default defineConfig({
  test: {
    globalSetup: ['test/global-teardown.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'contract',
          include: ['test/contract/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/semantics/**/*.test.ts', 'test/faults/**/*.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
