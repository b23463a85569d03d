export * from './queues';
export * from './enums';
