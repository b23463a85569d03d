import 'reflect-metadata';
import { AppConfig, APP_CONFIG } from '@certctl/config';
import { exitOnSignals, PinoNestLogger, runMain } from '@certctl/observability';
import { createResponderApp } from './app.factory';

runMain(async () => {
  const app = await createResponderApp();
  exitOnSignals(app);
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.revocation.responderPort, config.server.host);
  app.get(PinoNestLogger).log(`responder ready on http://${config.server.host}:${config.revocation.responderPort}/.well-known/pki`);
}, 'responder');
