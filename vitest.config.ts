import { defineConfig } from 'vitest/config';

// Two tiers: `fast` (pure code, corpus tables, fakes; minutes) and `real`
// (kernel builds and QEMU boots; tens of minutes, run by .ci/run).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.real.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'real',
          include: ['test/**/*.real.test.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 3_600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
