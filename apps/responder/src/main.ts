import 'reflect-metadata';
import { Logger } from 'nestjs-pino';
import { AppConfig, APP_CONFIG } from '@certctl/config';
import { exitOnSignals, runMain } from '@certctl/observability';
import { createResponderApp } from './app.factory';

runMain(async () => {
  const app = await createResponderApp();
  exitOnSignals(app);
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.revocation.responderPort, config.server.host);
  app.get(Logger).log(`responder ready on http://${config.server.host}:${config.revocation.responderPort}/.well-known/pki`);
});
