import { ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { CommandExit, CommandSpawner, commandProcessOptions, SpawnOptions, spawnInProcess } from '@certctl/deploy';

const CHILD_SCRIPT = join(__dirname, 'command-helper.child.js');

interface Pending {
  file: string;
  args: string[];
  options: SpawnOptions;
  resolve: (exit: CommandExit) => void;
}

/**
 * Starts validate and reload commands from a small helper process. Forking copies the forking process's page
 * tables on its event loop: from the orchestrator (a large heap) that cost about 2 ms of main-thread CPU per
 * command and blocked every other job meanwhile; the helper (plain Node, nothing loaded) forks in parallel on
 * another core and more cheaply. The helper is started on first use and again after it dies; commands it was
 * running when it died are run here instead (validate and reload commands may run twice: they already do on a
 * rollback). On shutdown it exits after answering what it runs. Where the helper script is absent (tests on the TypeScript sources), commands run in this process.
 */
export class CommandHelper {
  private readonly logger = new Logger(CommandHelper.name);
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  /** `script` and `execArgv` let tests run the TypeScript source of the helper. */
  constructor(private readonly script = CHILD_SCRIPT, private readonly execArgv: string[] = []) {}

  static available(): boolean {
    return existsSync(CHILD_SCRIPT);
  }

  /** The helper's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  readonly spawn: CommandSpawner = (file, args, options) => {
    const child = this.closed ? undefined : this.ensureChild();
    if (!child) return spawnInProcess(file, args, options);
    return new Promise<CommandExit>((resolve) => {
      const id = ++this.nextId;
      this.pending.set(id, { file, args, options, resolve });
      child.send({ id, file, args, options }, (err) => {
        if (err) this.runHere(id);
      });
    });
  };

  /** New commands run here from now on; the helper exits once the commands it is running have answered. */
  close(): void {
    this.closed = true;
    this.disconnectWhenIdle();
  }

  private disconnectWhenIdle(): void {
    if (!this.closed || this.pending.size) return;
    const child = this.child;
    this.child = undefined;
    if (child?.connected) child.disconnect();
  }

  private ensureChild(): ChildProcess | undefined {
    if (this.child) return this.child;
    try {
      // The helper itself gets the scrubbed environment too: it holds none of the orchestrator's secrets.
      const { env } = commandProcessOptions(false);
      const child = fork(this.script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: this.execArgv, serialization: 'advanced', env });
      child.on('message', (exit: CommandExit & { id: number }) => {
        const pending = this.pending.get(exit.id);
        this.pending.delete(exit.id);
        pending?.resolve({ stdout: exit.stdout, stderr: exit.stderr, error: exit.error });
        this.disconnectWhenIdle();
      });
      child.on('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (this.pending.size) this.logger.warn({ code, signal, running: this.pending.size }, 'command helper exited; its commands run in the orchestrator');
        for (const id of [...this.pending.keys()]) this.runHere(id);
      });
      child.on('error', (err) => this.logger.warn({ err: err.message }, 'command helper error'));
      this.child = child;
      return child;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'command helper could not start; commands run in the orchestrator');
      return undefined;
    }
  }

  private runHere(id: number): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    void spawnInProcess(pending.file, pending.args, pending.options).then(pending.resolve);
  }
}
