import { defineConfig } from 'vitest/config';

// Fault and abuse suite (`npm run test:faults`); `npm run soak` runs the long soak instead.
// Each file starts its own Postgres (so it can restart it) and real worker processes,
// so files run one after another: the machine may have two cores.
export default defineConfig(({ mode }) => ({
  test: {
    include: mode === 'soak' ? ['test/faults/**/*.soak.ts'] : ['test/faults/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
}));
