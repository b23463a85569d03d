/**
 * libs/pki (with @peculiar/x509 and asn1js: about 14 MB of memory once loaded) is needed only to write a CSR,
 * which an agent does a few times a year; it is loaded then, not at start, so an idle agent stays small.
 * The path is relative with its .js extension so that the same dynamic import works in the esbuild bundle, under
 * vitest and in the tsc build.
 */
type Pki = typeof import('../../../../../libs/pki/src/index.js');

let loading: Promise<Pki> | undefined;

export function loadPki(): Promise<Pki> {
  loading ??= import('../../../../../libs/pki/src/index.js');
  return loading;
}
