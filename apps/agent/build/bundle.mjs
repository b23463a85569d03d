// Bundles the agent into one file runnable with plain `node` (no node_modules on the host):
//   npm run build:agent  ->  dist/agent/certctl-agent.js
// Usage from code: `import { bundleAgent } from './bundle.mjs'; await bundleAgent(outfile)` (the e2e tests do).
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export async function bundleAgent(outfile = resolve(root, 'dist', 'agent', 'certctl-agent.js')) {
  const { version } = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
  await build({
    entryPoints: [resolve(root, 'apps', 'agent', 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Minified: V8 keeps the source of every function it may compile, and an idle agent's RSS is mostly Node's
    // own floor plus that (about 4.6 MiB unminified, 2.0 MiB minified). keepNames keeps function and class names
    // in stack traces and error names.
    minify: true,
    keepNames: true,
    sourcemap: false,
    legalComments: 'none',
    tsconfig: resolve(root, 'tsconfig.json'),
    define: { CERTCTL_AGENT_VERSION: JSON.stringify(version) },
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outfile = await bundleAgent(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`bundled the agent: ${outfile}`);
}
