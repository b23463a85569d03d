import 'reflect-metadata';
import { Logger } from 'nestjs-pino';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { runMain } from '@certctl/observability';
import { createApiApp } from './app.factory';

runMain(async () => {
  const app = await createApiApp();
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.server.port, config.server.host);
  app.get(Logger).log(`api listening on http://${config.server.host}:${config.server.port}`);
});
