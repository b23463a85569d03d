import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { SubjectAlternativeNameExtension, X509Certificate } from '@peculiar/x509';
import { AddressError, canonicalIp, dnsResolver, reverseName, validationAddresses } from './addresses';
import { invalid, VALID, ValidationResult } from './problems';
import type { ValidateChallengeInput } from './index';

/** RFC 8737 §6.1: the ALPN protocol and the certificate extension the client answers with. */
export const ACME_TLS_ALPN_PROTOCOL = 'acme-tls/1';
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

class ConnectError extends Error {}

function handshake(address: string, port: number, servername: string, signal: AbortSignal): Promise<{ alpn: string | false; raw: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ConnectError('timed out'));
    const socket = tls.connect({
      host: address,
      port,
      servername,
      ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
      minVersion: 'TLSv1.2',
      // The answer is a self-signed certificate made for this challenge: its content is checked below, not its chain.
      rejectUnauthorized: false,
    });
    const onAbort = () => socket.destroy(new Error('timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => signal.removeEventListener('abort', onAbort));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(false);
      const alpn = socket.alpnProtocol ?? false;
      socket.destroy();
      resolve({ alpn, raw: peer && 'raw' in peer ? peer.raw : undefined });
    });
    socket.once('error', (err) => reject(new ConnectError((err as NodeJS.ErrnoException).code ?? err.message)));
  });
}

/** RFC 8737 (and RFC 8738 §6 for IP identifiers): a TLS handshake with ALPN acme-tls/1 whose certificate proves the key authorization. */
export async function validateTlsAlpn01(input: ValidateChallengeInput, signal: AbortSignal, timeoutMs: number): Promise<ValidationResult> {
  const port = input.options?.tlsAlpn01Port ?? 443;
  const { type, value } = input.identifier;
  if (type === 'dns' && value.startsWith('*.')) return invalid('malformed', 'tls-alpn-01 cannot validate a wildcard name (RFC 8737 §3)');
  const servername = type === 'ip' ? reverseName(value) : value.replace(/\.$/, '');
  let addresses: string[];
  try {
    addresses = await validationAddresses(value, dnsResolver(input.options?.dnsResolver, timeoutMs), input.options?.outboundPolicy);
  } catch (err) {
    if (err instanceof AddressError) return invalid(err.kind, err.message, err.transient);
    throw err;
  }

  const where = `${type === 'ip' && isIP(value) === 6 ? `[${value}]` : value}:${port}`;
  let answer: { alpn: string | false; raw: Buffer | undefined } | undefined;
  const failures: string[] = [];
  for (const address of addresses) {
    try {
      answer = await handshake(address, port, servername, signal);
      break;
    } catch (err) {
      if (signal.aborted) return invalid('connection', `TLS connection to ${where}: timed out after ${timeoutMs} ms`, true);
      failures.push(`${address}: ${(err as Error).message}`);
    }
  }
  if (!answer) return invalid('connection', `TLS connection to ${where} (SNI ${servername}): ${failures.join('; ')}`);
  if (answer.alpn !== ACME_TLS_ALPN_PROTOCOL) return invalid('tls', `${where} did not negotiate ALPN protocol "${ACME_TLS_ALPN_PROTOCOL}" (SNI ${servername})`);
  if (!answer.raw) return invalid('unauthorized', `${where} sent no certificate`);

  let certificate: X509Certificate;
  let names: readonly { type: string; value: string }[];
  try {
    certificate = new X509Certificate(new Uint8Array(answer.raw));
    names = certificate.getExtension(SubjectAlternativeNameExtension)?.names.items ?? [];
  } catch (err) {
    return invalid('unauthorized', `${where} sent a certificate that does not parse: ${(err as Error).message}`);
  }

  // The subjectAltName holds exactly the identifier being validated, nothing else.
  const sanMatches =
    names.length === 1 &&
    (type === 'dns'
      ? names[0]!.type === 'dns' && names[0]!.value.toLowerCase().replace(/\.$/, '') === servername.toLowerCase()
      : names[0]!.type === 'ip' && canonicalIp(names[0]!.value) === canonicalIp(value));
  if (!sanMatches) {
    const shown = names.map((n) => `${n.type}:${n.value}`).join(', ') || 'none';
    return invalid('unauthorized', `The certificate from ${where} must name only ${type}:${value} in subjectAltName (it names ${shown})`);
  }

  const extension = certificate.extensions.find((e) => e.type === ACME_IDENTIFIER_OID);
  if (!extension) return invalid('unauthorized', `The certificate from ${where} has no acmeIdentifier extension (${ACME_IDENTIFIER_OID})`);
  if (!extension.critical) return invalid('unauthorized', `The acmeIdentifier extension of the certificate from ${where} is not critical`);
  // extnValue holds a DER OCTET STRING of the 32-byte SHA-256 of the key authorization.
  const digest = createHash('sha256').update(input.keyAuthorization, 'utf8').digest();
  const expected = Buffer.concat([Buffer.from([0x04, 0x20]), digest]);
  if (!Buffer.from(extension.value).equals(expected)) {
    return invalid('incorrectResponse', `The acmeIdentifier extension of the certificate from ${where} does not hold SHA-256 of the key authorization`);
  }
  return VALID;
}
