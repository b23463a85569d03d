import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The console builds to dist/web, which the api serves (and the Docker image copies with the rest of dist).
 * Hashed file names under assets/ let the api cache them immutably; no inline script is emitted, so the
 * Content-Security-Policy can forbid inline scripts.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: resolve(import.meta.dirname, '../../dist/web'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `npx vite --config apps/web/vite.config.mts` for UI work, against an api on :8080.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
