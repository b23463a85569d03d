/** Injection token of the app's own ioredis client (health checks, cluster-wide counters, locks). */
export const REDIS = Symbol('REDIS');
