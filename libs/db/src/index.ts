export * from './entities';
export * from './data-source';
export * from './database.module';
export * from './ids';
export * from './pg-errors';
export { MIGRATIONS } from './migrations';
export * from './redis.module';
export * from './queues.module';
export * from './notifications';
