import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // Tests never wait on real time: the simulated account's clock is virtual.
    testTimeout: 60_000,
    pool: 'forks',
    env: {
      // Powertools writes through the global console in dev mode, which tests can capture.
      POWERTOOLS_DEV: 'true',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIATESTFAKEFAKEFAKE',
      AWS_SECRET_ACCESS_KEY: 'test-only-not-a-real-secret-key-000000000',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
