import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** @peculiar/x509 works on WebCrypto; Node's implementation is the one it uses everywhere in certctl. */
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const subtle = webcrypto.subtle;
export { x509 };
