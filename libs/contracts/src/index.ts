export * from './queues';
export * from './enums';
export * from './agent-protocol';
export * from './permissions';
