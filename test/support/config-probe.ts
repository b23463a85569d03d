import { runMain } from '@certctl/observability';

// Spawned by config.e2e-spec: boots nothing, so only the configuration check decides the exit code.
runMain(async () => {
  process.stdout.write('config accepted\n');
});
