import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { dataSourceOptions } from './data-source';

/** The TypeORM connection of a Nest app, from the validated config. Apps never run migrations at boot. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        dataSourceOptions({ url: config.database.url, maxConns: config.database.maxConns, applicationName: config.serviceName }),
    }),
  ],
  exports: [TypeOrmModule],
})
export class DatabaseModule {}
