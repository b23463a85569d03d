export * from './acme.connector';
export * from './acme-account-store';
export * from './acme-ari';
export * from './acme-challenge-store';
export * from './acme-dns-hooks';
export * from './acme-errors';
export * from './acme-http-responder';
export * from './acme-issuer';
