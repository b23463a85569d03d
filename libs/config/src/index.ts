export * from './config';
export * from './config.module';
export * from './outbound-url';
export * from './outbound-connect';
export * from './deploy-config';
export * from './env-check';
