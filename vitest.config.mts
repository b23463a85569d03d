import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const alias = {
  '@certctl/contracts': resolve(import.meta.dirname, 'libs/contracts/src/index.ts'),
  '@certctl/config': resolve(import.meta.dirname, 'libs/config/src/index.ts'),
  '@certctl/db': resolve(import.meta.dirname, 'libs/db/src/index.ts'),
  '@certctl/observability': resolve(import.meta.dirname, 'libs/observability/src/index.ts'),
  '@certctl/testing': resolve(import.meta.dirname, 'libs/testing/src/index.ts'),
  '@certctl/pki': resolve(import.meta.dirname, 'libs/pki/src/index.ts'),
  '@certctl/issuers': resolve(import.meta.dirname, 'libs/issuers/src/index.ts'),
  '@certctl/deploy': resolve(import.meta.dirname, 'libs/deploy/src/index.ts'),
  '@certctl/client': resolve(import.meta.dirname, 'libs/client/src/index.ts'),
  '@certctl/acme-server': resolve(import.meta.dirname, 'libs/acme-server/src/index.ts'),
};

// swc keeps decorator metadata, which Nest's dependency injection and class-validator need.
const plugins = [swc.vite({ module: { type: 'es6' } })];

/** Three tiers: unit (no services), integration and e2e (real PostgreSQL and Redis, a database per file). */
export default defineConfig({
  plugins,
  resolve: { alias },
  test: {
    projects: [
      {
        plugins,
        resolve: { alias },
        test: { name: 'unit', include: ['apps/**/*.spec.ts', 'libs/**/*.spec.ts', 'bench/**/*.spec.ts'], environment: 'node' },
      },
      {
        plugins,
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['apps/**/*.int-spec.ts', 'libs/**/*.int-spec.ts'],
          globalSetup: ['libs/testing/src/global-setup.ts'],
          setupFiles: ['libs/testing/src/outbound-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins,
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e-spec.ts'],
          globalSetup: ['libs/testing/src/global-setup.ts'],
          setupFiles: ['libs/testing/src/outbound-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The web console's component tests: React under jsdom, talking to a real api child process.
        plugins: [react()],
        resolve: { alias },
        test: {
          name: 'web',
          include: ['apps/web/**/*.test.tsx'],
          environment: 'jsdom',
          globalSetup: ['libs/testing/src/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
