import { parentPort } from 'node:worker_threads';
import { IntermediateSigningInput, signIntermediateCa } from './intermediate-signing';

/** The thread of CaSigningWorker: makes and signs intermediate CAs off the main event loop. */
parentPort!.on('message', (message: { id: number; input: IntermediateSigningInput }) => {
  signIntermediateCa(message.input).then(
    (result) => parentPort!.postMessage({ id: message.id, result }),
    (err: unknown) => parentPort!.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
