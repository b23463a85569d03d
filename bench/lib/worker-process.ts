import { AppProcess } from './app-process';

export { freePort } from '@certctl/testing';

/** The built orchestrator (issuance worker, sweeps, ACME responder) as a child process. */
export type OrchestratorProcess = AppProcess;
export const OrchestratorProcess = { start: (env: Record<string, string>) => AppProcess.start('orchestrator', env) };
