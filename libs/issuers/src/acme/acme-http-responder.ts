import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AcmeChallengeStore } from './acme-challenge-store';

export const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/**
 * Answers one http-01 request from the store: 200 with the key authorization, 404 for anything else. Shared by
 * the orchestrator's own listener and the api route. Returns the status sent.
 */
export async function answerChallenge(store: AcmeChallengeStore, token: string, res: ServerResponse): Promise<number> {
  let keyAuthorization: string | undefined;
  try {
    keyAuthorization = await store.get(token);
  } catch {
    res.writeHead(503, { 'content-type': 'text/plain' }).end('challenge store unavailable\n');
    return 503;
  }
  if (keyAuthorization === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return 404;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' }).end(keyAuthorization);
  return 200;
}

/** A minimal HTTP listener serving only GET /.well-known/acme-challenge/<token>. */
export class AcmeHttpResponder {
  private readonly server: Server;

  constructor(private readonly store: AcmeChallengeStore) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 10_000;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !path.startsWith(CHALLENGE_PATH)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    await answerChallenge(this.store, decodeURIComponent(path.slice(CHALLENGE_PATH.length)), res);
  }

  /** Listens; resolves with the bound port (useful with port 0). */
  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/**
 * One responder per port, opened on demand: an issuer's http_port (or the default) is ensured before its
 * http-01 order. A port that cannot be opened (in use, privileged) is reported, not fatal: a reverse proxy
 * sending /.well-known/acme-challenge to the api (or another replica) may be the one answering.
 */
export class AcmeResponderPool {
  private readonly listening = new Map<number, Promise<AcmeHttpResponder | undefined>>();

  constructor(
    private readonly store: AcmeChallengeStore,
    private readonly host: string | undefined,
    private readonly onListenError: (port: number, err: Error) => void = () => {},
  ) {}

  ensure(port: number): Promise<void> {
    let entry = this.listening.get(port);
    if (!entry) {
      const responder = new AcmeHttpResponder(this.store);
      entry = responder.listen(port, this.host).then(
        () => responder,
        (err: Error) => {
          this.listening.delete(port); // try again next time: the port may free up
          this.onListenError(port, err);
          return undefined;
        },
      );
      this.listening.set(port, entry);
    }
    return entry.then(() => undefined);
  }

  async close(): Promise<void> {
    const all = [...this.listening.values()];
    this.listening.clear();
    await Promise.all(all.map(async (p) => (await p)?.close()));
  }
}
