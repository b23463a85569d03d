import { isIP } from 'node:net';
import { isAbsolute, normalize } from 'node:path';

/**
 * The outbound policy: every URL, host and socket an API caller can set (ACME directories, Caddy admin APIs, SSH
 * hosts, post-deploy verify endpoints, webhooks and chat/paging APIs, later OIDC discovery) passes these checks
 * when it is written (a 400 naming the field) and again when it is dialled, against the resolved address
 * (outbound-connect.ts). Cloud metadata, link-local, multicast, reserved and unspecified addresses are always
 * refused; loopback and private ranges follow the settings; unix sockets only under listed directories.
 *
 * Pure (no DNS, no Nest) so that the agent bundle and libs/deploy can import it by path.
 */
export interface OutboundPolicy {
  /** 127.0.0.0/8, ::1 and `localhost` names: the host certctl runs on (CERTCTL_OUTBOUND_ALLOW_LOOPBACK). */
  allowLoopback: boolean;
  /** 10/8, 172.16/12, 192.168/16, 100.64/10 and fc00::/7 (refused while CERTCTL_BLOCK_RFC1918_OUTBOUND=true). */
  allowPrivate: boolean;
  /** Directories a unix-socket destination may live under (CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS). */
  unixSocketDirs: readonly string[];
}

export const DEFAULT_UNIX_SOCKET_DIRS: readonly string[] = ['/run/caddy', '/var/run/caddy'];

/** Self-hosted defaults: the internal network is reachable, the server itself and the metadata service are not. */
export const DEFAULT_OUTBOUND_POLICY: OutboundPolicy = Object.freeze({ allowLoopback: false, allowPrivate: true, unixSocketDirs: DEFAULT_UNIX_SOCKET_DIRS });

/**
 * An agent's targets are its own host's services (Caddy's admin API on localhost, a verify endpoint on 127.0.0.1),
 * not the server's: loopback and private ranges are that host's. Metadata and link-local stay refused.
 */
export const AGENT_OUTBOUND_POLICY: OutboundPolicy = Object.freeze({ allowLoopback: true, allowPrivate: true, unixSocketDirs: DEFAULT_UNIX_SOCKET_DIRS });

let activePolicy: OutboundPolicy = DEFAULT_OUTBOUND_POLICY;

/** Set once at boot from the validated config (ConfigModule does it); connectors and checks read it. */
export function setOutboundPolicy(policy: OutboundPolicy): void {
  activePolicy = policy;
}

export function outboundPolicy(): OutboundPolicy {
  return activePolicy;
}

/** Runs a synchronous check under another policy (e.g. a target deployed by an agent, whose loopback is its host's). */
export function withOutboundPolicy<T>(policy: OutboundPolicy, check: () => T): T {
  const previous = activePolicy;
  activePolicy = policy;
  try {
    return check();
  } finally {
    activePolicy = previous;
  }
}

export class OutboundUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboundUrlError';
  }
}

// ---- addresses ----

type Ipv4 = [number, number, number, number];
type Rule = { net: Ipv4; bits: number; reason: string };

const v4 = (text: string): Ipv4 => text.split('.').map(Number) as Ipv4;
const v4Text = (ip: Ipv4) => ip.join('.');
const v4Int = (ip: Ipv4) => ((ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]) >>> 0;
const inV4 = (ip: Ipv4, rule: Rule) => rule.bits === 0 || v4Int(ip) >>> (32 - rule.bits) === v4Int(rule.net) >>> (32 - rule.bits);

const METADATA_V4 = new Set(['169.254.169.254', '100.100.100.200']);
const V4_ALWAYS: Rule[] = [
  { net: v4('0.0.0.0'), bits: 8, reason: 'is in "this network" (0.0.0.0/8)' },
  { net: v4('169.254.0.0'), bits: 16, reason: 'is link-local (169.254.0.0/16)' },
  { net: v4('224.0.0.0'), bits: 4, reason: 'is multicast (224.0.0.0/4)' },
  { net: v4('240.0.0.0'), bits: 4, reason: 'is reserved (240.0.0.0/4, broadcast included)' },
];
const V4_LOOPBACK: Rule = { net: v4('127.0.0.0'), bits: 8, reason: 'is loopback (127.0.0.0/8)' };
const V4_PRIVATE: Rule[] = [
  { net: v4('10.0.0.0'), bits: 8, reason: 'is private (10.0.0.0/8)' },
  { net: v4('172.16.0.0'), bits: 12, reason: 'is private (172.16.0.0/12)' },
  { net: v4('192.168.0.0'), bits: 16, reason: 'is private (192.168.0.0/16)' },
  { net: v4('100.64.0.0'), bits: 10, reason: 'is shared address space (100.64.0.0/10, CGNAT)' },
];

const LOOPBACK_SETTING = 'allowed only with CERTCTL_OUTBOUND_ALLOW_LOOPBACK=true';
const PRIVATE_SETTING = 'refused while CERTCTL_BLOCK_RFC1918_OUTBOUND=true';

/** Why an IPv4 address is refused, as a predicate ("is loopback ..."), or undefined. */
function ipv4Refusal(ip: Ipv4, policy: OutboundPolicy): string | undefined {
  if (METADATA_V4.has(v4Text(ip))) return 'is a cloud metadata address';
  const always = V4_ALWAYS.find((rule) => inV4(ip, rule));
  if (always) return always.reason;
  if (inV4(ip, V4_LOOPBACK)) return policy.allowLoopback ? undefined : `${V4_LOOPBACK.reason}, ${LOOPBACK_SETTING}`;
  const internal = V4_PRIVATE.find((rule) => inV4(ip, rule));
  if (internal && !policy.allowPrivate) return `${internal.reason}, ${PRIVATE_SETTING}`;
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (a trailing dotted quad allowed), or undefined. */
function ipv6Words(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    if (isIP(dotted[1]!) !== 4) return undefined;
    const [a, b, c, d] = v4(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((w) => (/^[0-9a-f]{1,4}$/.test(w) ? parseInt(w, 16) : NaN)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const words = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return words.some(Number.isNaN) ? undefined : words;
}

const wordsToV4 = (high: number, low: number): Ipv4 => [high >> 8, high & 255, low >> 8, low & 255];
const zero = (words: number[], from: number, to: number) => words.slice(from, to).every((w) => w === 0);

/** An IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64, 6to4, Teredo), with its kind. */
function embeddedIpv4(w: number[]): Array<{ ip: Ipv4; kind: string }> {
  if (zero(w, 0, 5) && w[5] === 0xffff) return [{ ip: wordsToV4(w[6]!, w[7]!), kind: 'IPv4-mapped' }];
  if (zero(w, 0, 4) && w[4] === 0xffff && w[5] === 0) return [{ ip: wordsToV4(w[6]!, w[7]!), kind: 'IPv4-translated' }];
  // ::a.b.c.d (deprecated IPv4-compatible); :: and ::1 are IPv6's own unspecified and loopback addresses.
  if (zero(w, 0, 6) && (w[6] !== 0 || w[7]! > 1)) return [{ ip: wordsToV4(w[6]!, w[7]!), kind: 'IPv4-compatible' }];
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(w, 2, 6)) return [{ ip: wordsToV4(w[6]!, w[7]!), kind: 'NAT64 (64:ff9b::/96)' }];
  if (w[0] === 0x2002) return [{ ip: wordsToV4(w[1]!, w[2]!), kind: '6to4 (2002::/16)' }];
  if (w[0] === 0x2001 && w[1] === 0) {
    // Teredo: the server in words 2-3, the client obfuscated (inverted) in words 6-7.
    return [
      { ip: wordsToV4(w[2]!, w[3]!), kind: 'Teredo server' },
      { ip: wordsToV4(w[6]! ^ 0xffff, w[7]! ^ 0xffff), kind: 'Teredo client' },
    ];
  }
  return [];
}

const prefix = (w: number[], value: number, bits: number) => w[0]! >> (16 - bits) === value >> (16 - bits);

function ipv6Refusal(w: number[], policy: OutboundPolicy, shown: string): string | undefined {
  if (w.every((x) => x === 0)) return `${shown} is the unspecified address`;
  if (zero(w, 0, 7) && w[7] === 1) return policy.allowLoopback ? undefined : `${shown} is loopback (::1), ${LOOPBACK_SETTING}`;
  if (w[0] === 0xfd00 && w[1] === 0x0ec2 && zero(w, 2, 7) && w[7] === 0x254) return `${shown} is a cloud metadata address`;
  if (prefix(w, 0xfe80, 10)) return `${shown} is link-local (fe80::/10)`;
  if (prefix(w, 0xff00, 8)) return `${shown} is multicast (ff00::/8)`;
  for (const { ip, kind } of embeddedIpv4(w)) {
    const refusal = ipv4Refusal(ip, policy);
    if (refusal) return `${shown} is the ${kind} form of ${v4Text(ip)}, which ${refusal}`;
  }
  if (!policy.allowPrivate) {
    if (prefix(w, 0xfc00, 7)) return `${shown} is a unique local address (fc00::/7), ${PRIVATE_SETTING}`;
    if (prefix(w, 0xfec0, 10)) return `${shown} is site-local (fec0::/10), ${PRIVATE_SETTING}`;
  }
  return undefined;
}

/**
 * Why an IP address must not be dialled under the policy, or undefined when it may (and for anything that is not
 * an IP address: names are judged after resolution). Brackets and a zone id (`fe80::1%eth0`) are understood.
 */
export function addressRefusal(address: string, policy: OutboundPolicy = activePolicy): string | undefined {
  const bare = address.trim().replace(/^\[(.*)\]$/, '$1');
  const ip = bare.replace(/%.*$/, '');
  const family = isIP(ip);
  if (family === 4) {
    const refusal = ipv4Refusal(v4(ip), policy);
    return refusal && `${bare} ${refusal}`;
  }
  if (family === 6) {
    const words = ipv6Words(ip);
    return words ? ipv6Refusal(words, policy, bare) : `${bare} is not an IPv6 address`;
  }
  return undefined;
}

/** Names that are the host itself or a metadata service whatever DNS says. */
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog']);

function nameRefusal(name: string, policy: OutboundPolicy): string | undefined {
  const host = name.toLowerCase().replace(/\.$/, '');
  if (METADATA_NAMES.has(host)) return `${host} is a cloud metadata address`;
  if ((host === 'localhost' || host.endsWith('.localhost')) && !policy.allowLoopback) return `${host} is loopback, ${LOOPBACK_SETTING}`;
  return undefined;
}

// ---- hosts, URLs, sockets ----

/**
 * Normalises a bare host (an SSH host, the host of a host:port endpoint) the way a URL would: numeric IPv4
 * spellings (2130706433, 0x7f.1, 017700000001, 127.1) become dotted quads, IPv6 is unbracketed and compressed, a
 * zone id is dropped, names are lower-cased. Throws OutboundUrlError when the policy refuses it.
 */
export function checkOutboundHost(host: string, policy: OutboundPolicy = activePolicy): string {
  const raw = host.trim();
  if (!raw) throw new OutboundUrlError('has no host');
  const unbracketed = raw.replace(/^\[(.*)\]$/, '$1');
  if (unbracketed.includes('%')) {
    // WHATWG URLs have no zone ids; an address with one is link-local or refused for what it is anyway.
    const refusal = addressRefusal(unbracketed, policy) ?? `${unbracketed} carries a zone id, which only link-local addresses need`;
    throw new OutboundUrlError(refusal);
  }
  // A bare host has no user, port, path or query: a URL parser would silently drop them and dial something else.
  if (/[/?#@\\\s]/.test(unbracketed) || (unbracketed.includes(':') && isIP(unbracketed) !== 6)) {
    throw new OutboundUrlError(`${raw} is not a host name or address`);
  }
  let normalised: string;
  try {
    normalised = new URL(`http://${isIP(unbracketed) === 6 ? `[${unbracketed}]` : unbracketed}/`).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    throw new OutboundUrlError(`${raw} is not a host name or address`);
  }
  if (!normalised) throw new OutboundUrlError('has no host');
  const refusal = isIP(normalised) ? addressRefusal(normalised, policy) : nameRefusal(normalised, policy);
  if (refusal) throw new OutboundUrlError(refusal);
  return normalised;
}

/**
 * Parses and checks an outbound URL without resolving names: malformed URLs, other protocols and refused
 * literal addresses (in any spelling) or names are refused here; names are checked again, after resolution,
 * when the call is made.
 */
export function checkOutboundUrl(raw: string, policy: OutboundPolicy = activePolicy, protocols: readonly string[] = ['http:', 'https:']): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundUrlError('is not a valid URL');
  }
  if (!protocols.includes(url.protocol)) throw new OutboundUrlError(`must use ${protocols.join(' or ')}, not ${url.protocol}`);
  if (!url.hostname) throw new OutboundUrlError('has no host');
  checkOutboundHost(url.hostname, policy);
  return url;
}

/**
 * A unix socket is a destination too (Docker's socket is root on the host): only absolute paths under one of the
 * policy's directories, with no ".." to climb out. The directories are the operator's; symlinks inside them are
 * the operator's responsibility.
 */
export function checkUnixSocketPath(path: string, policy: OutboundPolicy = activePolicy): string {
  if (!isAbsolute(path)) throw new OutboundUrlError('a unix socket must be an absolute path');
  if (path.split('/').includes('..')) throw new OutboundUrlError('a unix socket path must not contain ".."');
  const resolved = normalize(path);
  const allowed = policy.unixSocketDirs.some((dir) => resolved.startsWith(`${normalize(dir).replace(/\/+$/, '')}/`));
  if (!allowed) {
    const dirs = policy.unixSocketDirs.length ? policy.unixSocketDirs.join(', ') : 'none';
    throw new OutboundUrlError(`unix socket ${resolved} is not under an allowed directory (CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS: ${dirs})`);
  }
  return resolved;
}
