import { connect as tcpConnect, Socket } from 'node:net';
import type { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, createSecureContext, SecureContext, TLSSocket } from 'node:tls';

export const PROBE_OUTCOMES = ['certificate', 'refused', 'timeout', 'reset', 'tls', 'unreachable', 'error', 'aborted'] as const;
export type ProbeOutcome = (typeof PROBE_OUTCOMES)[number];

export interface ProbeResult {
  outcome: ProbeOutcome;
  /** DER of every certificate the peer presented, leaf first. */
  chain?: Buffer[];
  /** connect or handshake, for timeouts. */
  phase?: 'connect' | 'handshake';
  message?: string;
  /** Negotiated protocol and cipher of a completed handshake ('TLSv1.3', 'TLS_AES_256_GCM_SHA384'). */
  protocol?: string;
  cipher?: string;
}

export interface ProbeOptions {
  servername?: string;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  signal?: AbortSignal;
  /** A context built once (see probeContext) instead of one per handshake: less CPU per probe. */
  secureContext?: SecureContext;
  /**
   * Taken once the TCP connection is up and before the handshake starts (its timeout starts after), released
   * when the probe ends: a closed port never takes one. Lets a scan sweep many sockets while only a few
   * handshakes (CPU-bound) run at once.
   */
  handshakeSlots?: { acquire(): Promise<void>; release(): void };
}

/** More certificates than any real chain presents: a server sending a loop of them stops here. */
const MAX_CHAIN = 16;

/** Old and odd servers must still show their certificate. */
const PERMISSIVE = { minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' } as const;

/** The client context of probeTls, to build once and pass to every probe. */
export function probeContext(): SecureContext {
  return createSecureContext(PERMISSIVE);
}

/**
 * One TLS handshake with `host:port`, with a connect timeout and then a separate handshake timeout.
 * Verification is off on purpose: discovery must see self-signed and expired certificates, and nothing
 * learnt here is ever trusted. Resolves (never rejects) with what happened.
 */
export function probeTls(host: string, port: number, options: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let tcp: Socket | undefined;
    let tls: TLSSocket | undefined;
    let timer: NodeJS.Timeout | undefined;
    let holdsSlot = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (holdsSlot) options.handshakeSlots!.release();
      options.signal?.removeEventListener('abort', onAbort);
      tls?.destroy();
      tcp?.destroy();
      resolve(result);
    };
    const onAbort = () => finish({ outcome: 'aborted' });
    if (options.signal?.aborted) return finish({ outcome: 'aborted' });
    options.signal?.addEventListener('abort', onAbort, { once: true });

    timer = setTimeout(() => finish({ outcome: 'timeout', phase: 'connect', message: `no TCP connection within ${options.connectTimeoutMs} ms` }), options.connectTimeoutMs);
    tcp = tcpConnect({ host, port });
    tcp.once('error', (err) => finish(socketError(err)));
    tcp.once('connect', () => {
      clearTimeout(timer);
      if (!options.handshakeSlots) return handshake();
      void options.handshakeSlots.acquire().then(() => {
        if (settled) return options.handshakeSlots!.release(); // aborted or reset while waiting
        holdsSlot = true;
        handshake();
      });
    });

    function handshake() {
      timer = setTimeout(() => finish({ outcome: 'timeout', phase: 'handshake', message: `no TLS handshake within ${options.handshakeTimeoutMs} ms` }), options.handshakeTimeoutMs);
      tls = tlsConnect({
        socket: tcp,
        servername: options.servername,
        rejectUnauthorized: false,
        ...(options.secureContext ? { secureContext: options.secureContext } : PERMISSIVE),
      });
      tls.once('error', (err) => finish(socketError(err, true)));
      tls.once('secureConnect', () => {
        const chain = presentedChain(tls!.getPeerX509Certificate());
        const negotiated = { protocol: tls!.getProtocol() ?? undefined, cipher: tls!.getCipher()?.name };
        finish(chain.length ? { outcome: 'certificate', chain, ...negotiated } : { outcome: 'tls', message: 'the server presented no certificate' });
      });
    }
  });
}

/**
 * Follows issuerCertificate links until a certificate repeats (a self-signed root points at itself). OpenSSL's
 * X509Certificate objects, not getPeerCertificate(true), whose every field and digest of every certificate
 * cost more than half a millisecond a handshake.
 */
function presentedChain(leaf: X509Certificate | undefined): Buffer[] {
  const chain: Buffer[] = [];
  for (let cert = leaf; cert && chain.length < MAX_CHAIN && !chain.some((der) => der.equals(cert!.raw)); cert = cert.issuerCertificate) {
    chain.push(cert.raw);
  }
  return chain;
}

function socketError(err: NodeJS.ErrnoException, afterConnect = false): ProbeResult {
  switch (err.code) {
    case 'ECONNREFUSED': return { outcome: 'refused', message: err.message };
    case 'ECONNRESET': case 'EPIPE': return { outcome: 'reset', message: err.message };
    case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EADDRNOTAVAIL': return { outcome: 'unreachable', message: err.message };
    case 'ETIMEDOUT': return { outcome: 'timeout', phase: afterConnect ? 'handshake' : 'connect', message: err.message };
    default: return { outcome: afterConnect ? 'tls' : 'error', message: err.message };
  }
}

/** Outcomes that are not errors: a certificate, or nothing listening (the common case of a sweep). */
export function isProbeError(outcome: ProbeOutcome): boolean {
  return outcome !== 'certificate' && outcome !== 'refused' && outcome !== 'aborted';
}
