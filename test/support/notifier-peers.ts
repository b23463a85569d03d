import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer } from 'smtp-server';

/** Real peers for the notifier's tests: an HTTP sink (webhooks, Slack, Teams, PagerDuty, OpsGenie) and an SMTP server. */

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact body bytes, as text (what a signature is computed over). */
  raw: string;
  json: any;
  at: number;
}

export interface HttpSink {
  url: string;
  requests: ReceivedRequest[];
  /** Decides each answer's status (default 200); the request is recorded either way. */
  respond: (req: ReceivedRequest) => number | Promise<number>;
  on(path: string): ReceivedRequest[];
  close(): Promise<void>;
}

export async function startHttpSink(): Promise<HttpSink> {
  const requests: ReceivedRequest[] = [];
  const sink: HttpSink = {
    url: '',
    requests,
    respond: () => 200,
    on: (path) => requests.filter((r) => r.path === path),
    close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try { json = JSON.parse(raw); } catch { json = undefined; }
      const received: ReceivedRequest = { path: req.url ?? '', headers: req.headers, raw, json, at: Date.now() };
      requests.push(received);
      void Promise.resolve(sink.respond(received)).catch(() => 500).then((status) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status < 300 ? '{"status":"success"}' : '{"errors":["nope"]}');
      });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sink;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** The text/plain part, transfer encoding undone. */
  text: string;
  subject: string;
  secure: boolean;
  user: string | undefined;
}

export interface SmtpPeer {
  port: number;
  caCertPath: string;
  username: string;
  password: string;
  messages: ReceivedMail[];
  close(): Promise<void>;
}

/** Decodes quoted-printable (soft line breaks and =XX escapes) as UTF-8. */
function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => `%${hex}`);
  try { return decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, '%25')); } catch { return bytes; }
}

/** The text/plain part of a MIME message (nodemailer's multipart/alternative), decoded. */
export function textPartOf(raw: string): string {
  const match = /Content-Type: text\/plain[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?Content-Transfer-Encoding: ([\w-]+)\r?\n\r?\n([\s\S]*?)(?:\r?\n--|$)/i.exec(raw);
  if (!match) return raw;
  const [, encoding, body] = match;
  if (/quoted-printable/i.test(encoding!)) return decodeQuotedPrintable(body!);
  if (/base64/i.test(encoding!)) return Buffer.from(body!, 'base64').toString('utf8');
  return body!;
}

function decodeHeader(value: string): string {
  return value.replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_m, kind: string, data: string) =>
    kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')));
}

/**
 * smtp-server on 127.0.0.1 with STARTTLS (a throwaway certificate made by openssl, trusted by the client
 * through CERTCTL_SMTP_CA_CERT_PATH) and required authentication. Recipients containing "reject" get 550.
 */
export async function startSmtpPeer(): Promise<SmtpPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-smtp-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' });
  const username = 'certctl-mailer';
  const password = 'smtp-s3cret-password';
  const messages: ReceivedMail[] = [];
  const server = new SMTPServer({
    key: readFileSync(keyPath),
    cert: readFileSync(certPath),
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === username && auth.password === password) return callback(null, { user: username });
      return callback(new Error('Invalid username or password'));
    },
    onRcptTo(address, _session, callback) {
      if (address.address.includes('reject')) {
        return callback(Object.assign(new Error('5.1.1 mailbox unavailable'), { responseCode: 550 }));
      }
      return callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/im.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          text: textPartOf(raw),
          subject: decodeHeader(subject),
          secure: session.secure,
          user: session.user as string | undefined,
        });
        callback();
      });
    },
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port, caCertPath: certPath, username, password, messages,
    async close() {
      await new Promise<void>((done) => server.close(() => done()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a truthy value; fails with `what` after the timeout. */
export type Truthy<T> = Exclude<T, false | '' | 0 | null | undefined>;

export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 20_000, everyMs = 50): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last as Truthy<T>;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}
