import { AppProcess } from './app-process';

/** The built api as a child process. */
export type ApiProcess = AppProcess;
export const ApiProcess = { start: (env: Record<string, string>, script?: string) => AppProcess.start('api', env, script) };
