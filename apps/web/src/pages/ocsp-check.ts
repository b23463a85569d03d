/**
 * Asks our OCSP responder, from the browser, what it answers for a certificate version's serial: the same
 * question a relying party asks, over the same public endpoint (`/.well-known/pki/ocsp/{issuerId}`). The DER is
 * small enough to read and write by hand here, which keeps an ASN.1 library out of the console's bundle.
 */

interface Tlv {
  tag: number;
  /** The whole element (tag, length and content). */
  raw: Uint8Array;
  content: Uint8Array;
}

function readTlv(bytes: Uint8Array, offset = 0): Tlv & { end: number } {
  const tag = bytes[offset]!;
  let length = bytes[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + bytes[offset + 2 + i]!;
    header += octets;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new Error('truncated DER');
  return { tag, raw: bytes.subarray(offset, end), content: bytes.subarray(offset + header, end), end };
}

function children(parent: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < parent.length; ) {
    const t = readTlv(parent, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

function encode(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const lengthBytes = length < 0x80 ? [length] : length < 0x100 ? [0x81, length] : [0x82, length >> 8, length & 0xff];
  const out = new Uint8Array(1 + lengthBytes.length + length);
  out.set([tag, ...lengthBytes]);
  let at = 1 + lengthBytes.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pemBlocks(pem: string): Uint8Array[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    Uint8Array.from(atob(m[1]!.replace(/\s+/g, '')), (ch) => ch.charCodeAt(0)),
  );
}

/** The parts of an X.509 certificate a CertID is made of. */
function certParts(der: Uint8Array) {
  const tbs = children(readTlv(der).content)[0]!;
  const fields = children(tbs.content);
  const rest = fields[0]!.tag === 0xa0 ? fields.slice(1) : fields; // [0] version is optional
  const [serial, , issuer, , subject, spki] = rest as [Tlv, Tlv, Tlv, Tlv, Tlv, Tlv];
  const keyBits = children(spki.content)[1]!.content.subarray(1); // BIT STRING: drop the unused-bits octet
  return { serial: serial.content, issuer: issuer.raw, subject: subject.raw, keyBits };
}

async function sha1(bytes: Uint8Array): Promise<Uint8Array> {
  if (!crypto.subtle) throw new Error('checking OCSP from the console needs HTTPS (the browser offers no hashing over plain HTTP)');
  return new Uint8Array(await crypto.subtle.digest('SHA-1', bytes as BufferSource));
}

const SHA1_ALGORITHM = Uint8Array.from([0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00]);

export type OcspStatus =
  | { status: 'good'; thisUpdate?: string }
  | { status: 'revoked'; revokedAt?: string; reason?: string; thisUpdate?: string }
  | { status: 'unknown'; thisUpdate?: string }
  | { status: 'error'; error: string };

const REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', '', 'removeFromCRL', 'privilegeWithdrawn', 'aACompromise'];
const RESPONSE_STATUSES = ['successful', 'malformedRequest', 'internalError', 'tryLater', '', 'sigRequired', 'unauthorized'];

function generalizedTime(t: Tlv): string {
  const s = new TextDecoder().decode(t.content); // YYYYMMDDHHMMSSZ
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}Z`;
}

/** Builds the OCSP request for the chain's first certificate (its issuer second), posts it, reads the answer. */
export async function askResponder(issuerId: string, pemChain: string, baseUrl = ''): Promise<OcspStatus> {
  try {
    const [leafDer, issuerDer] = pemBlocks(pemChain);
    if (!leafDer) return { status: 'error', error: 'this version holds no certificate' };
    if (!issuerDer) return { status: 'error', error: 'the stored chain lacks the issuing CA certificate' };
    const leaf = certParts(leafDer);
    const issuer = certParts(issuerDer);
    const certId = encode(0x30, SHA1_ALGORITHM, encode(0x04, await sha1(leaf.issuer)), encode(0x04, await sha1(issuer.keyBits)), encode(0x02, leaf.serial));
    const request = encode(0x30, encode(0x30, encode(0x30, encode(0x30, certId))));
    const res = await fetch(`${baseUrl}/.well-known/pki/ocsp/${encodeURIComponent(issuerId)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/ocsp-request', Accept: 'application/ocsp-response' },
      body: request as BodyInit,
    });
    if (!res.ok) return { status: 'error', error: `the responder answered HTTP ${res.status}` };
    const [statusTlv, responseBytes] = children(readTlv(new Uint8Array(await res.arrayBuffer())).content);
    const code = statusTlv!.content[0]!;
    if (code !== 0 || !responseBytes) return { status: 'error', error: `the responder answered ${RESPONSE_STATUSES[code] ?? code}` };
    const basicDer = children(children(responseBytes.content)[0]!.content)[1]!.content; // [0] { OID, OCTET STRING }
    const tbsFields = children(children(readTlv(basicDer).content)[0]!.content);
    const responses = tbsFields.find((f, i) => f.tag === 0x30 && i > 0 && tbsFields[i - 1]!.tag === 0x18)!; // after producedAt
    const single = children(children(responses.content)[0]!.content);
    const certStatus = single[1]!;
    const thisUpdate = single[2] ? generalizedTime(single[2]) : undefined;
    if (certStatus.tag === 0x80) return { status: 'good', thisUpdate };
    if (certStatus.tag === 0xa1) {
      const info = children(certStatus.content);
      const reasonCode = info[1] ? readTlv(info[1].content).content[0] : undefined;
      return { status: 'revoked', revokedAt: generalizedTime(info[0]!), reason: reasonCode === undefined ? undefined : REASONS[reasonCode], thisUpdate };
    }
    return { status: 'unknown', thisUpdate };
  } catch (err) {
    return { status: 'error', error: err instanceof Error ? err.message : String(err) };
  }
}
