export * from './rate-limits';
export * from './issuer-budget';
export * from './budget-gauges';
