import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { retryAtBoot } from './boot-retry';
import { dataSourceOptions } from './data-source';

/**
 * The TypeORM connection of a Nest app, from the validated config. Apps never run migrations at boot.
 * Connecting is retried by retryAtBoot (one structured line per failed attempt) instead of @nestjs/typeorm's
 * own loop, which logs every retry with the error's full stack.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        ...dataSourceOptions({ url: config.database.url, maxConns: config.database.maxConns, applicationName: config.serviceName }),
        // Hands the final error straight back (TypeORM's loop would log it again, with its stack).
        toRetry: () => false,
        startupAttempts: config.startup.attempts,
        startupRetryDelayMs: config.startup.retryDelayMs,
      }),
      dataSourceFactory: async (options) => {
        const { startupAttempts, startupRetryDelayMs, ...dataSource } = options as typeof options & { startupAttempts: number; startupRetryDelayMs: number };
        return retryAtBoot(() => new DataSource(dataSource as never).initialize(), {
          dependency: 'database',
          attempts: startupAttempts,
          delayMs: startupRetryDelayMs,
        });
      },
    }),
  ],
  exports: [TypeOrmModule],
})
export class DatabaseModule {}
