import { defineConfig } from 'vitest/config';
import { WxtVitest } from 'wxt/testing/vitest-plugin';

// Three levels, run separately by scripts/test.mjs so each gets its own set-up:
//  unit         pure code + fake-indexeddb, no network
//  fuzz         seeded mutations of every input path (test/fuzz)
//  build        the built packages: manifests, web-ext lint, no remote code
//  integration  a real local PLC + PDS (+ the chat stand-in behind the PDS proxy)
//  e2e          the built extension in Debian's Chromium and Firefox ESR
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [WxtVitest()],
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/unit/**/*.test.tsx'],
          setupFiles: ['fake-indexeddb/auto'],
          environment: 'node',
        },
      },
      {
        // Deterministic fuzzing of every input path (test/fuzz/README.md). ATM_FUZZ_CASES sets
        // the size: npm test runs the default, npm run test:adversarial the full one.
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.fuzz.test.ts'],
          setupFiles: ['fake-indexeddb/auto'],
          globalSetup: ['test/fuzz/global-setup.ts'],
          environment: 'node',
          testTimeout: 0,
        },
      },
      {
        test: {
          name: 'build',
          include: ['test/build/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One network for the whole run; files share it, so run them one at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
