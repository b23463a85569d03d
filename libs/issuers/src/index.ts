export * from './issuer-connector';
export * from './issuer-config';
export * from './profile';
export * from './issuer-registry';
export * from './local-ca/ca-store';
export * from './local-ca/local-ca.connector';
export * from './issuer-secrets';
export * from './issuers.module';
