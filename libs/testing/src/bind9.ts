import { ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, isIPv4, isIPv6 } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './local-services';
import { onPath } from './pebble';

/**
 * A real BIND9 (`named`, Debian package `bind9`) as an authoritative server on a free loopback port (UDP and
 * TCP): the zone `example.test` (and its parent `test`, so a CAA tree climb gets an answer at every level),
 * records given at start, and a TSIG key allowed to change the zone by RFC 2136 dynamic update — the way
 * certbot-dns-rfc2136 and lego's rfc2136 provider write their dns-01 TXT records. Test code changes records the
 * same way (a small RFC 2136 + RFC 8945 client below; Debian's nsupdate lives in bind9-dnsutils, not installed).
 */
export interface Bind9 {
  host: string;
  port: number;
  /** `host:port`, as CERTCTL_CAA_RESOLVER, the ACME server's DNS resolver setting and lego's --dns.resolvers take it. */
  address: string;
  zone: string;
  /** The TSIG key allowed to update the zone (hmac-sha256; the secret base64, as BIND and certbot write it). */
  tsig: { name: string; algorithm: 'hmac-sha256'; secret: string };
  /** Adds one record; `value` in zone-file presentation form (`"text"` for TXT, `0 issue "ca.example"` for CAA). */
  addRecord(name: string, type: DnsRecordType, value: string, ttl?: number): Promise<void>;
  /** Removes every record of `type` at `name`. */
  removeRecords(name: string, type: DnsRecordType): Promise<void>;
  /** The server's output (named -g logs to stderr), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'CAA';

/** Why BIND9 tests cannot run here, or undefined when they can. Under CI=true the caller must fail instead of skipping. */
export function bind9Missing(): string | undefined {
  const named = onPath('named', `${process.env.PATH ?? ''}:/usr/sbin:/sbin`);
  return named ? undefined : 'named not found on PATH or in /usr/sbin (Debian: apt-get install -y bind9)';
}

const TYPE_CODES: Record<DnsRecordType, number> = { A: 1, CNAME: 5, TXT: 16, AAAA: 28, CAA: 257 };

/**
 * Starts named with `records` (zone-file lines relative to the zone, e.g. `www 60 IN A 127.0.0.1` or
 * `@ 60 IN CAA 0 issue "pebble.letsencrypt.org"`) and waits until it answers over UDP.
 */
export async function startBind9(options: { zone?: string; records?: string[] } = {}): Promise<Bind9> {
  const named = onPath('named', `${process.env.PATH ?? ''}:/usr/sbin:/sbin`);
  if (!named) throw new Error(bind9Missing());
  const zone = (options.zone ?? 'example.test').replace(/\.$/, '');
  const parent = zone.includes('.') ? zone.slice(zone.indexOf('.') + 1) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'certctl-bind9-'));
  const port = await freePort();
  const tsig = { name: 'certctl-test-key', algorithm: 'hmac-sha256' as const, secret: randomBytes(32).toString('base64') };

  const soa = (origin: string) => [
    `$ORIGIN ${origin}.`,
    '$TTL 60',
    `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 60 60 600 60`,
    `@ IN NS ns1.${zone}.`,
  ];
  writeFileSync(join(dir, 'zone.db'), [...soa(zone), 'ns1 IN A 127.0.0.1', ...(options.records ?? [])].join('\n') + '\n');
  // The parent delegates the zone to the same server (with glue), as a registry would.
  if (parent) writeFileSync(join(dir, 'parent.db'), [...soa(parent), `${zone}. IN NS ns1.${zone}.`, `ns1.${zone}. IN A 127.0.0.1`].join('\n') + '\n');
  // No command channel (controls {}) and every file in the scratch directory, so several instances run side by side.
  writeFileSync(join(dir, 'named.conf'), `
key "${tsig.name}" { algorithm ${tsig.algorithm}; secret "${tsig.secret}"; };
controls { };
options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
};
zone "${zone}" { type primary; file "${dir}/zone.db"; update-policy { grant ${tsig.name} zonesub ANY; }; };
${parent ? `zone "${parent}" { type primary; file "${dir}/parent.db"; };` : ''}
`);

  // Runs as the current user (root here keeps root; -u would need the scratch directory chowned to that user).
  const child: ChildProcess = spawn(named, ['-g', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => (clearTimeout(timer), resolve()));
        child.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const resolver = new Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const soaAnswer = await resolver.resolveSoa(zone).then(() => true, () => false);
    if (soaAnswer) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`named did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const update = (records: DnsUpdateRecord[]) => sendDnsUpdate({ host: '127.0.0.1', port, zone, tsig, records });
  const absolute = (name: string) => (name === '@' ? zone : name.endsWith('.') ? name.slice(0, -1) : name.endsWith(zone) ? name : `${name}.${zone}`);
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    zone,
    tsig,
    addRecord: (name, type, value, ttl = 60) => update([{ op: 'add', name: absolute(name), type, ttl, value }]),
    removeRecords: (name, type) => update([{ op: 'delete-rrset', name: absolute(name), type }]),
    output: () => output,
    stop,
  };
}

// ---- A minimal RFC 2136 dynamic update client signed with RFC 8945 TSIG (hmac-sha256), over TCP. ----

export interface DnsUpdateRecord {
  op: 'add' | 'delete-rrset';
  name: string;
  type: DnsRecordType;
  ttl?: number;
  /** Presentation form, for `add`. */
  value?: string;
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Character-strings of a TXT or CAA value in presentation form: quoted strings (with \" and \\) or bare words. */
function presentationStrings(value: string): string[] {
  const parts: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(value); m; m = re.exec(value)) parts.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return parts;
}

function encodeRdata(type: DnsRecordType, value: string): Buffer {
  switch (type) {
    case 'A':
      if (!isIPv4(value)) throw new Error(`not an IPv4 address: ${value}`);
      return Buffer.from(value.split('.').map(Number));
    case 'AAAA': {
      if (!isIPv6(value)) throw new Error(`not an IPv6 address: ${value}`);
      const [head, tail = ''] = value.split('::');
      const h = head ? head.split(':') : [];
      const t = tail ? tail.split(':') : [];
      const groups = value.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
      return Buffer.concat(groups.map((g) => u16(parseInt(g, 16))));
    }
    case 'CNAME':
      return encodeName(value);
    case 'TXT':
      return Buffer.concat(presentationStrings(value).map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    case 'CAA': {
      const [flags, tag, ...rest] = presentationStrings(value);
      if (flags === undefined || tag === undefined) throw new Error(`CAA value must be "flags tag value": ${value}`);
      return Buffer.concat([Buffer.from([Number(flags), tag.length]), Buffer.from(tag), Buffer.from(rest.join(' '))]);
    }
  }
}

/** Sends one RFC 2136 update of `zone` signed with `tsig` (RFC 8945, hmac-sha256) over TCP; throws with the RCODE when refused. */
export async function sendDnsUpdate(args: { host: string; port: number; zone: string; tsig: Bind9['tsig']; records: DnsUpdateRecord[] }): Promise<void> {
  const id = randomBytes(2).readUInt16BE();
  const IN = 1, ANY = 255;
  const header = Buffer.concat([u16(id), u16(5 << 11), u16(1), u16(0), u16(args.records.length), u16(0)]);
  const zoneSection = Buffer.concat([encodeName(args.zone), u16(6), u16(IN)]);
  const updates = args.records.map((r) => {
    if (r.op === 'delete-rrset') return Buffer.concat([encodeName(r.name), u16(TYPE_CODES[r.type]), u16(ANY), u32(0), u16(0)]);
    const rdata = encodeRdata(r.type, r.value ?? '');
    return Buffer.concat([encodeName(r.name), u16(TYPE_CODES[r.type]), u16(IN), u32(r.ttl ?? 60), u16(rdata.length), rdata]);
  });
  const unsigned = Buffer.concat([header, zoneSection, ...updates]);

  // TSIG (RFC 8945 §4.3.3): the MAC covers the message, then the key name, class, TTL, algorithm, time, fudge, error, other.
  const keyName = encodeName(args.tsig.name.toLowerCase());
  const algorithm = encodeName('hmac-sha256');
  const now = Math.floor(Date.now() / 1000);
  const timeSigned = Buffer.concat([u16(Math.floor(now / 2 ** 32)), u32(now % 2 ** 32)]);
  const fudge = u16(300);
  const mac = createHmac('sha256', Buffer.from(args.tsig.secret, 'base64'))
    .update(Buffer.concat([unsigned, keyName, u16(ANY), u32(0), algorithm, timeSigned, fudge, u16(0), u16(0)]))
    .digest();
  const tsigRdata = Buffer.concat([algorithm, timeSigned, fudge, u16(mac.length), mac, u16(id), u16(0), u16(0)]);
  const tsigRecord = Buffer.concat([keyName, u16(250), u16(ANY), u32(0), u16(tsigRdata.length), tsigRdata]);
  const message = Buffer.concat([unsigned, tsigRecord]);
  message.writeUInt16BE(1, 10); // ARCOUNT: the TSIG record

  const reply = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect(args.port, args.host);
    let received = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error('DNS update timed out')));
    socket.on('connect', () => socket.write(Buffer.concat([u16(message.length), message])));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        socket.end();
        resolve(received.subarray(2, 2 + received.readUInt16BE(0)));
      }
    });
    socket.on('error', reject);
  });
  const rcode = reply.readUInt16BE(2) & 0xf;
  const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];
  if (rcode !== 0) throw new Error(`DNS update of ${args.zone} refused: ${RCODES[rcode] ?? rcode}`);
}
