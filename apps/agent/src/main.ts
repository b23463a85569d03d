import { CertctlAgent } from './agent';
import { ConfigError, parseAgentArgs, resolveConfig, usage } from './config';
import { Logger } from './logger';
import { AGENT_VERSION } from './version';

/** Exit codes: 0 stopped, 2 bad settings, 3 the server rejected the agent (key revoked, agent retired). */
export const EXIT = { stopped: 0, usage: 2, rejected: 3, crashed: 1 } as const;

async function main(argv: string[]): Promise<number> {
  let config;
  let once = false;
  try {
    const args = parseAgentArgs(argv);
    if (args.help) {
      process.stdout.write(usage());
      return EXIT.stopped;
    }
    if (args.version) {
      process.stdout.write(`${AGENT_VERSION}\n`);
      return EXIT.stopped;
    }
    once = Boolean(args.flags.once);
    config = resolveConfig(args.flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`certctl-agent: ${err.message}\n`);
      return EXIT.usage;
    }
    throw err;
  }
  const log = new Logger(config.logLevel);
  const agent = new CertctlAgent(config, log);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(EXIT.crashed); // a second signal: do not wait for the deployment in progress
    log.info('signal received', { signal });
    agent.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const exit = await agent.run({ once });
  if (exit.reason === 'rejected') {
    process.stderr.write(`certctl-agent: stopped: ${exit.message}\n`);
    return EXIT.rejected;
  }
  return EXIT.stopped;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`certctl-agent: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = EXIT.crashed;
});
