export * from './local-services';
export * from './test-environment';
export * from './pebble';
export * from './deploy-policy';
export * from './bind9';
