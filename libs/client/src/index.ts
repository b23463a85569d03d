export * from './client';
export * from './errors';
export * from './settings';
export * from './types';
