import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig, loadConfig } from './config';
import { setOutboundPolicy } from './outbound-url';

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
      providers: [{ provide: APP_CONFIG, useFactory: () => {
        const config: AppConfig = { ...loadConfig(process.env, serviceName), ...overrides };
        // Connectors check destinations deep inside libs that have no access to the DI container.
        setOutboundPolicy(config.outbound);
        return config;
      } }],
      exports: [APP_CONFIG],
    };
  }
}
