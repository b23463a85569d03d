import { INestApplication, MiddlewareConsumer, Module, NestModule, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { AppConfig, APP_CONFIG, ConfigModule } from '@certctl/config';
import { DatabaseModule, QueuesModule, RedisModule } from '@certctl/db';
import { HealthModule } from './health';
import { LoggerModule } from './logger.module';
import { HttpMetricsMiddleware, MetricsModule } from './metrics';
import { QueueMetricsModule } from './queue-metrics';

export type WorkerName = keyof AppConfig['workerPorts'];

/**
 * What every worker app is made of: config, logger, Postgres, Redis, the queues, and a small HTTP listener
 * for /health, /ready and /metrics. Each worker adds its own modules (processors) on top.
 */
export function workerRootModule(name: WorkerName, features: Type[] = []): Type<NestModule> {
  @Module({
    imports: [
      ConfigModule.forRoot(name),
      LoggerModule,
      DatabaseModule,
      RedisModule,
      QueuesModule.forRoot(),
      MetricsModule,
      QueueMetricsModule,
      HealthModule,
      ...features,
    ],
  })
  class WorkerRootModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(HttpMetricsMiddleware).forRoutes('*path');
    }
  }
  Object.defineProperty(WorkerRootModule, 'name', { value: `${name[0]!.toUpperCase()}${name.slice(1)}Module` });
  return WorkerRootModule;
}

/** Creates a worker app; the caller decides whether to listen (tests listen on port 0). */
export async function createWorkerApp(name: WorkerName, features: Type[] = []): Promise<INestApplication> {
  const app = await NestFactory.create(workerRootModule(name, features), { bufferLogs: true, abortOnError: false });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  return app;
}

/** Entry point of a worker's main.ts: build, listen on its port, log where. */
export async function runWorker(name: WorkerName, features: Type[] = []): Promise<void> {
  const app = await createWorkerApp(name, features);
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.workerPorts[name], config.server.host);
  app.get(Logger).log(`${name} ready on http://${config.server.host}:${config.workerPorts[name]}`);
}
