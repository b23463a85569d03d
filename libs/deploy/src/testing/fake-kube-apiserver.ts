import { writeFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';

interface StoredSecret {
  metadata: Record<string, unknown> & { name: string; namespace: string; resourceVersion: string };
  [key: string]: unknown;
}

/**
 * A small stand-in for the Kubernetes API server (no real one can run here): the core/v1 Secret endpoints the
 * connector uses, bearer-token auth, and resourceVersion semantics (a replace with a stale version is a 409).
 * `conflictsBeforeNextReplace` simulates another writer changing the secret between a read and a replace.
 */
export class FakeKubeApiServer {
  readonly secrets = new Map<string, StoredSecret>();
  readonly requests: string[] = [];
  conflictsBeforeNextReplace = 0;
  private version = 100;
  private server: Server | undefined;
  port = 0;

  constructor(public token = 'fake-token') {}

  private caPem = '';

  /** Serves HTTPS with the given pair (the client checks it against `caPem`, as with a real cluster CA). */
  async start(tls: { certPem: string; keyPem: string; caPem: string }): Promise<void> {
    this.caPem = tls.caPem;
    this.server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Writes a kubeconfig pointing at this server into `dir` and returns its path. */
  writeKubeconfig(dir: string): string {
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: `https://127.0.0.1:${this.port}`, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: 'certctl', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'certctl' } }],
    }), { mode: 0o600 });
    return path;
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '').split('?')[0]!;
    this.requests.push(`${req.method} ${path}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (!match) return this.status(res, 404, 'NotFound', `no route ${path}`);
    const [, namespace, name] = match as unknown as [string, string, string | undefined];
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as StoredSecret) : undefined;
    const key = (n: string) => `${namespace}/${n}`;

    if (req.method === 'GET' && name) {
      const secret = this.secrets.get(key(name));
      return secret ? this.send(res, 200, secret) : this.status(res, 404, 'NotFound', `secrets "${name}" not found`);
    }
    if (req.method === 'POST' && !name && body) {
      const n = body.metadata.name;
      if (this.secrets.has(key(n))) return this.status(res, 409, 'AlreadyExists', `secrets "${n}" already exists`);
      const stored = { ...body, metadata: { ...body.metadata, namespace, resourceVersion: String(++this.version), uid: `uid-${this.version}` } };
      this.secrets.set(key(n), stored);
      return this.send(res, 201, stored);
    }
    if (req.method === 'PUT' && name && body) {
      const current = this.secrets.get(key(name));
      if (!current) return this.status(res, 404, 'NotFound', `secrets "${name}" not found`);
      if (this.conflictsBeforeNextReplace > 0) {
        this.conflictsBeforeNextReplace--;
        current.metadata.resourceVersion = String(++this.version);
      }
      if (body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return this.status(res, 409, 'Conflict', `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      const stored = { ...body, metadata: { ...body.metadata, namespace, resourceVersion: String(++this.version) } };
      this.secrets.set(key(name), stored);
      return this.send(res, 200, stored);
    }
    if (req.method === 'DELETE' && name) {
      const existed = this.secrets.delete(key(name));
      return existed ? this.send(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' }) : this.status(res, 404, 'NotFound', `secrets "${name}" not found`);
    }
    return this.status(res, 405, 'MethodNotAllowed', `${req.method} ${path}`);
  }
}
