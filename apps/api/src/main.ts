import 'reflect-metadata';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { exitOnSignals, PinoNestLogger, runMain } from '@certctl/observability';
import { createApiApp } from './app.factory';

runMain(async () => {
  const app = await createApiApp();
  // SIGTERM: stop accepting requests, finish those in flight (and pending audit writes), exit 0.
  exitOnSignals(app);
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.server.port, config.server.host);
  app.get(PinoNestLogger).log(`api listening on http://${config.server.host}:${config.server.port}`);
}, 'api');
