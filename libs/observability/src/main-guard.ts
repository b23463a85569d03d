import { ConfigError, loadConfig } from '@certctl/config';

/**
 * Runs an app's bootstrap. The environment is validated first, so a bad variable stops the process with one
 * line naming it (exit code 1) instead of a stack trace from inside the framework.
 */
export function runMain(bootstrap: () => Promise<void>): void {
  Promise.resolve()
    .then(() => void loadConfig(process.env))
    .then(bootstrap)
    .catch((err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
      } else {
        process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      }
      process.exit(1);
    });
}
