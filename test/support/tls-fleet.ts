import { createServer as createTcpServer, Server, Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, SecureContext } from 'node:tls';
import {
  createCaCertificate, DEFAULT_KEY_SPEC, exportPrivateKeyPem, fingerprintSha256, generateKeyPair, signLeafCertificate,
  SigningAuthority, x509,
} from '@certctl/pki';

/** Real TLS listeners on loopback addresses for the scanner's tests and benchmark: certificates made here. */
export interface Identity {
  certPem: string;
  keyPem: string;
  /** What a TLS server presents: the leaf, then intermediates. */
  chainPems: string[];
  fingerprint: string;
}

const DAY = 86_400_000;

export class TestPki {
  private constructor(readonly root: SigningAuthority, readonly intermediate: SigningAuthority, readonly intermediatePem: string) {}

  static async create(): Promise<TestPki> {
    const rootKeys = await generateKeyPair();
    const rootPem = await createCaCertificate({ keys: rootKeys, keySpec: DEFAULT_KEY_SPEC, commonName: 'Scanner Test Root', validityDays: 30 });
    const root = { certificate: new x509.X509Certificate(rootPem), privateKey: rootKeys.privateKey, keySpec: DEFAULT_KEY_SPEC };
    const midKeys = await generateKeyPair();
    const midPem = await createCaCertificate({ keys: midKeys, keySpec: DEFAULT_KEY_SPEC, commonName: 'Scanner Test Intermediate', validityDays: 30, parent: root, pathLength: 0 });
    const intermediate = { certificate: new x509.X509Certificate(midPem), privateKey: midKeys.privateKey, keySpec: DEFAULT_KEY_SPEC };
    return new TestPki(root, intermediate, midPem);
  }

  /** A leaf signed by the intermediate, valid from `fromDays` to `toDays` days from now (negative = past). */
  async leaf(commonName: string, fromDays = -1, toDays = 30): Promise<Identity> {
    const keys = await generateKeyPair();
    const certPem = await signLeafCertificate(this.intermediate, {
      publicKey: keys.publicKey, commonName, sans: [commonName], notBefore: new Date(Date.now() + fromDays * DAY),
      notAfter: new Date(Date.now() + toDays * DAY), ekus: ['serverAuth'],
    });
    return { certPem, keyPem: await exportPrivateKeyPem(keys.privateKey), chainPems: [certPem, this.intermediatePem], fingerprint: fingerprintSha256(certPem) };
  }

  /** A self-signed end-entity certificate (no chain). */
  static async selfSigned(commonName: string, toDays = 30): Promise<Identity> {
    const keys = await generateKeyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '0a1b2c3d', name: `CN=${commonName}`, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + toDays * DAY),
      keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: commonName }])],
    });
    const certPem = cert.toString('pem') + '\n';
    return { certPem, keyPem: await exportPrivateKeyPem(keys.privateKey), chainPems: [certPem], fingerprint: fingerprintSha256(certPem) };
  }
}

function contextOf(identity: Identity): SecureContext {
  return createSecureContext({ cert: identity.chainPems.join(''), key: identity.keyPem });
}

/** A TLS server on host:port presenting `identity` (and, per SNI name, another identity). */
export async function startTlsListener(host: string, port: number, identity: Identity, bySni: Record<string, Identity> = {}): Promise<Server> {
  const contexts = new Map(Object.entries(bySni).map(([name, id]) => [name, contextOf(id)]));
  const fallback = contextOf(identity);
  const server = createTlsServer({
    cert: identity.chainPems.join(''), key: identity.keyPem,
    // Without per-name identities every name gets the default (no callback, no context built per handshake).
    ...(contexts.size ? { SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => cb(null, contexts.get(name) ?? fallback) } : {}),
  });
  server.on('tlsClientError', () => undefined); // scanners hang up mid-handshake; that is fine
  return listen(server, host, port);
}

/** Accepts TCP connections and never says a word: the handshake-timeout path. */
export async function startSilentListener(host: string, port: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined).on('close', () => sockets.delete(socket));
  });
  // close() waits for open connections, and this server never ends one by itself
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    sockets.forEach((s) => s.destroy());
    return close(cb);
  };
  return listen(server, host, port);
}

function listen(server: Server, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 511 }, () => resolve(server));
  });
}

export async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    s.close(() => resolve());
    (s as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  })));
}
