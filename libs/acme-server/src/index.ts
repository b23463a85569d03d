export * from './problem';
export * from './jws';
export * from './identifiers';
export * from './nonce-store';
export * from './acme-metrics';
export * from './acme-server.service';
export * from './acme-server.controller';
export * from './acme-server.module';
