export * from './logger.module';
export * from './metrics';
export * from './health';
export * from './worker';
export * from './main-guard';
export * from './cluster-counters';
export * from './base-processor';
export * from './worker-options';
