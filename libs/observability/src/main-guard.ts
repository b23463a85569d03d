import { AppConfig, ConfigError, loadConfig, unknownVariables } from '@certctl/config';
import { DependencyUnreachableError } from '@certctl/db';
import { PinoNestLogger, pinoFromConfig } from './logger.module';

/**
 * The logger a Nest app is created with (`NestFactory.create(module, { logger })`), so every line from the first
 * one, including the framework's own and boot retries, is JSON. Nothing needs buffering (bufferLogs): the app
 * switches to its DI logger (app.useLogger) once built; both write the same JSON to stdout.
 */
export function bootLogger(config: AppConfig): PinoNestLogger {
  return new PinoNestLogger(pinoFromConfig(config));
}

/**
 * Runs an app's bootstrap. The environment is validated first, so a bad variable stops the process with one
 * line naming it (exit code 1) instead of a stack trace from inside the framework. Any other boot failure is
 * one JSON log line (a dependency that stayed unreachable, without its meaningless stack), then exit 1.
 */
export function runMain(bootstrap: () => Promise<void>, appName = 'certctl'): void {
  let config: AppConfig | undefined;
  Promise.resolve()
    .then(() => {
      config = loadConfig(process.env, appName);
      reportUnknownVariables(config);
    })
    .then(bootstrap)
    .catch((err: unknown) => {
      if (err instanceof ConfigError || !config) {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      }
      const logger = pinoFromConfig(config);
      if (err instanceof DependencyUnreachableError) {
        logger.fatal({ dependency: err.dependency, attempts: err.attempts }, `boot failed: ${err.message}`);
      } else {
        logger.fatal({ err }, 'boot failed');
      }
      logger.flush(() => process.exit(1));
    });
}

/** A misspelled CERTCTL_* variable leaves its default in force silently: say so at boot, with the likely name. */
function reportUnknownVariables(config: AppConfig): void {
  const unknown = unknownVariables(process.env);
  if (!unknown.length) return;
  const logger = pinoFromConfig(config);
  for (const { variable, didYouMean } of unknown) {
    logger.warn({ variable, didYouMean }, `unknown configuration variable ${variable}${didYouMean ? ` (did you mean ${didYouMean}?)` : ''}; it is ignored`);
  }
}
