import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig, loadConfig } from './config';

/** Injection token of the validated AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/**
 * Provides the validated AppConfig. The environment is read when the module is built (in a factory),
 * not when this file is imported, so tests can set variables first.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(serviceName: string, overrides?: Partial<AppConfig>): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useFactory: () => ({ ...loadConfig(process.env, serviceName), ...overrides }) }],
      exports: [APP_CONFIG],
    };
  }
}
