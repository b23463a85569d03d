import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { IntermediateSigningInput, SignedIntermediate } from './intermediate-signing';

interface Pending {
  resolve(value: SignedIntermediate): void;
  reject(err: Error): void;
}

/**
 * One worker thread that makes and signs intermediate CAs (key generation, certificate, key encryption), so an
 * API caller creating CAs costs the api's event loop nothing but a message; requests take turns in the thread.
 * Started on first use, idle it does not keep the process alive, and a thread that dies fails only what it held
 * (the next request starts a new one).
 */
export class CaSigningWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  sign(input: IntermediateSigningInput): Promise<SignedIntermediate> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<SignedIntermediate>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, input });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    // Built, the thread runs the compiled file next to this one; from source (tests) it loads the TypeScript
    // file through tsx's require hook.
    const worker = __filename.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(join(__dirname, 'ca-signing.worker.ts'))});`, { eval: true })
      : new Worker(join(__dirname, 'ca-signing.worker.js'));
    worker.unref();
    worker.on('message', (message: { id: number; result?: SignedIntermediate & { encryptedPrivateKey: Uint8Array }; error?: string }) => {
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (!this.pending.size) worker.unref();
      if (!waiting) return;
      if (message.error !== undefined || !message.result) waiting.reject(new Error(`CA signing failed: ${message.error ?? 'no result'}`));
      else waiting.resolve({ certificatePem: message.result.certificatePem, encryptedPrivateKey: Buffer.from(message.result.encryptedPrivateKey) });
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const waiting of this.pending.values()) waiting.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the CA signing thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}
