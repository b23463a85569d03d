import { INestApplication, MiddlewareConsumer, Module, NestModule, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Logger as Pino } from 'pino';
import { AppConfig, APP_CONFIG, ConfigModule, loadConfig } from '@certctl/config';
import { DatabaseModule, QueuesModule, RedisModule } from '@certctl/db';
import { HealthModule } from './health';
import { LoggerModule, PINO, PinoNestLogger } from './logger.module';
import { bootLogger } from './main-guard';
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
  const logger = bootLogger(loadConfig(process.env, name));
  const app = await NestFactory.create(workerRootModule(name, features), { logger, abortOnError: false });
  app.useLogger(app.get(PinoNestLogger));
  return app;
}

/**
 * SIGTERM or SIGINT: stop taking work and let running jobs finish (app.close() runs the shutdown hooks; a BullMQ
 * worker's close waits for its active jobs), then exit 0. A job still running when the grace period ends (Kubernetes
 * terminationGracePeriodSeconds) dies with the process and is retried elsewhere once its lock expires. A second
 * signal exits at once (1). Workers built with createWorkerApp alone (tests) install no signal handlers.
 */
export function exitOnSignals(app: INestApplication): void {
  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) process.exit(1);
      closing = true;
      const config = app.get<AppConfig>(APP_CONFIG);
      const logger = app.get<Pino>(PINO);
      // Work in flight gets until the deadline; a close that cannot finish (Redis gone: BullMQ waits for a
      // connection that never comes) must not keep the pod until its grace period ends and a silent SIGKILL.
      const deadline = setTimeout(() => {
        logger.error({ signal, timeoutMs: config.server.shutdownTimeoutMs }, 'shutdown did not finish in time (is Redis or PostgreSQL unreachable?); exiting');
        logger.flush(() => process.exit(1));
      }, config.server.shutdownTimeoutMs);
      deadline.unref();
      app.close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err: err instanceof Error ? err.message : String(err) }, 'shutdown failed');
          logger.flush(() => process.exit(1));
        },
      );
    });
  }
}

/** Entry point of a worker's main.ts: build, listen on its port, log where. */
export async function runWorker(name: WorkerName, features: Type[] = []): Promise<void> {
  const app = await createWorkerApp(name, features);
  exitOnSignals(app);
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.workerPorts[name], config.server.host);
  app.get(PinoNestLogger).log(`${name} ready on http://${config.server.host}:${config.workerPorts[name]}`);
}
