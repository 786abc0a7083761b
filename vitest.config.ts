import { defineConfig } from 'vitest/config';

// Two projects: "unit" needs nothing but Node and loopback; "integration" also needs real servers
// (Elasticsearch, haproxy, redis, dnsmasq...) that .ci/run installs. Files named *.int.test.ts are integration.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 240_000,
    reporters: process.env.CI ? ['default'] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'test/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', 'test/e2e/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.int.test.ts', 'test/*.int.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          testTimeout: 300_000,
        },
      },
    ],
  },
});
