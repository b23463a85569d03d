export * from './errors';
export * from './keys';
export * from './names';
export * from './csr';
export * from './certificate';
export * from './secret-box';
export { x509 } from './crypto-provider';
export * from './pkcs12';
