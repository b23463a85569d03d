export * from './revocation-counters';
export * from './revocation-authorities';
export * from './crl.service';
export * from './ocsp-responder.store';
export * from './ocsp.service';
export * from './revocation.module';
export * from './ocsp-fast-path';
