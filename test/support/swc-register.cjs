/**
 * Runs the TypeScript sources in a plain `node` child process (`node -r ./test/support/swc-register.cjs app.ts`),
 * for tests that must kill a real process. tsx/esbuild would drop the decorator metadata Nest's dependency
 * injection needs; swc (already used by vitest here) keeps it. The @certctl/* aliases come from tsconfig.json.
 */
'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { resolve } = require('node:path');
const { transformSync } = require('@swc/core');

const root = resolve(__dirname, '..', '..');
const paths = JSON.parse(readFileSync(resolve(root, 'tsconfig.json'), 'utf8')).compilerOptions.paths;
const aliases = Object.fromEntries(Object.entries(paths).map(([name, [target]]) => [name, resolve(root, target)]));

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  return resolveFilename.call(this, aliases[request] ?? request, parent, ...rest);
};

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      keepClassNames: true,
    },
  });
  module._compile(code, filename);
};
