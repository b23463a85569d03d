/**
 * The command helper process (see command-helper.ts): runs each requested argv with execFile and answers with its
 * output. It loads nothing but Node itself, so each fork it makes copies a small address space.
 */
import { execFile } from 'node:child_process';

interface Request {
  id: number;
  file: string;
  args: string[];
  timeoutMs: number;
}

process.on('message', (request: Request) => {
  execFile(request.file, request.args, { timeout: request.timeoutMs, maxBuffer: 1 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
    const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
    process.send?.({
      id: request.id, stdout: String(stdout), stderr: String(stderr),
      error: e ? { killed: Boolean(e.killed), code: e.code, message: e.message } : null,
    });
  });
});
// The orchestrator went away (or closed the channel): nothing more will be asked.
process.on('disconnect', () => process.exit(0));
