export * from './network-range';
export * from './describe';
export * from './discovery-pipeline';
export * from './health-endpoint';
