import { defineConfig } from 'vitest/config';

// Integration suites each start their own Postgres; on a 2-core machine two
// files at a time keeps them from starving each other.
export default defineConfig({
  test: {
    include: ['*/src/**/*.test.ts', '*/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    maxWorkers: 2,
    // An external cluster (PGWARDEN_E2E_KUBECONFIG) is shared: one suite at a
    // time, since suites install the same cluster-scoped CRDs and webhooks.
    fileParallelism: !process.env.PGWARDEN_E2E_KUBECONFIG,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
