import { createHash } from 'node:crypto';
import {
  children, decodeOid, enumerated, explicit, generalizedTime, NULL, octetString, oid, readElement, readOnly, sequence, TAG, tlv,
  unsignedInteger,
} from './der';
import { IssuerIdentity, REVOCATION_REASONS, RevocationReason, signed, Signer } from './crl';
import { PkiError } from './errors';

/** RFC 6960 §4.2.1 OCSPResponseStatus values other than successful. */
export const OCSP_ERROR_STATUS = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;
export type OcspErrorStatus = keyof typeof OCSP_ERROR_STATUS;

const OIDS = {
  nonce: '1.3.6.1.5.5.7.48.1.2',
  basicResponse: '1.3.6.1.5.5.7.48.1.1',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;
const HASH_OF_OID: Record<string, string> = { [OIDS.sha1]: 'sha1', [OIDS.sha256]: 'sha256', [OIDS.sha384]: 'sha384', [OIDS.sha512]: 'sha512' };

/** RFC 8954 §2.1: a nonce is 1 to 32 octets. */
export const MAX_NONCE_BYTES = 32;

export interface OcspCertId {
  /** The CertID exactly as the client encoded it: the response must carry the same bytes. */
  der: Buffer;
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lowercase hex without leading zero octets (certctl's serial form). */
  serialNumber: string;
}

export interface OcspRequestInfo {
  certIds: OcspCertId[];
  /** The nonce extension's extnValue as sent (echoed as is), when there was one. */
  nonce?: Buffer;
  /** Why the nonce cannot be accepted (empty, longer than 32 octets, not an OCTET STRING). */
  nonceProblem?: string;
}

/** Decodes an RFC 6960 OCSPRequest. Anything that is not one throws PkiError('MALFORMED'). */
export function parseOcspRequest(der: Buffer): OcspRequestInfo {
  const request = readOnly(der);
  if (request.tag !== TAG.sequence) throw new PkiError('MALFORMED', 'OCSPRequest is not a SEQUENCE');
  const [tbs] = children(request.content);
  if (!tbs || tbs.tag !== TAG.sequence) throw new PkiError('MALFORMED', 'TBSRequest missing');
  const parts = children(tbs.content);
  const list = parts.find((p) => p.tag === TAG.sequence);
  if (!list) throw new PkiError('MALFORMED', 'requestList missing');
  const certIds = children(list.content).map((single) => {
    if (single.tag !== TAG.sequence) throw new PkiError('MALFORMED', 'Request is not a SEQUENCE');
    const [certId] = children(single.content);
    if (!certId || certId.tag !== TAG.sequence) throw new PkiError('MALFORMED', 'CertID missing');
    return parseCertId(certId.raw, certId.content);
  });
  if (!certIds.length) throw new PkiError('MALFORMED', 'requestList is empty');
  const info: OcspRequestInfo = { certIds };
  const extensions = parts.find((p) => p.tag === 0xa2);
  if (extensions) {
    const [list] = children(extensions.content);
    for (const ext of list ? children(list.content) : []) {
      const fields = children(ext.content);
      if (fields[0]?.tag !== TAG.oid || decodeOid(fields[0].content) !== OIDS.nonce) continue;
      const value = fields[fields.length - 1];
      if (!value || value.tag !== TAG.octetString) throw new PkiError('MALFORMED', 'nonce extension has no value');
      info.nonce = value.content;
      info.nonceProblem = nonceProblemOf(value.content);
    }
  }
  return info;
}

function nonceProblemOf(extnValue: Buffer): string | undefined {
  let inner;
  try {
    inner = readOnly(extnValue);
  } catch {
    return 'the nonce is not a DER OCTET STRING';
  }
  if (inner.tag !== TAG.octetString) return 'the nonce is not an OCTET STRING';
  if (inner.content.length < 1) return 'the nonce is empty';
  if (inner.content.length > MAX_NONCE_BYTES) return `the nonce is longer than ${MAX_NONCE_BYTES} octets`;
  return undefined;
}

function parseCertId(raw: Buffer, content: Buffer): OcspCertId {
  const [algorithm, nameHash, keyHash, serial] = children(content);
  if (algorithm?.tag !== TAG.sequence || nameHash?.tag !== TAG.octetString || keyHash?.tag !== TAG.octetString || serial?.tag !== TAG.integer) {
    throw new PkiError('MALFORMED', 'CertID is not { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber }');
  }
  const algorithmOid = readElement(algorithm.content, 0);
  if (algorithmOid.tag !== TAG.oid) throw new PkiError('MALFORMED', 'CertID hash algorithm is not an OID');
  if (!serial.content.length || serial.content[0]! & 0x80) throw new PkiError('MALFORMED', 'serial number is not a positive INTEGER');
  return {
    der: raw,
    hashAlgorithm: decodeOid(algorithmOid.content),
    issuerNameHash: nameHash.content,
    issuerKeyHash: keyHash.content,
    serialNumber: serialHex(serial.content),
  };
}

/** Lowercase hex without leading zero octets. */
export function serialHex(bytes: Buffer): string {
  return bytes.toString('hex').replace(/^(00)+(?=.)/, '');
}

/** Whether a CertID names this issuer (by the hashes of its subject and key, under the CertID's own hash). */
export function certIdNamesIssuer(certId: OcspCertId, issuer: IssuerIdentity): boolean {
  const hash = HASH_OF_OID[certId.hashAlgorithm];
  if (!hash) return false;
  return createHash(hash).update(issuer.subjectDer).digest().equals(certId.issuerNameHash)
    && createHash(hash).update(issuer.publicKeyBits).digest().equals(certId.issuerKeyHash);
}

/** The SHA-1 CertID of a serial of this issuer (what `openssl ocsp -issuer … -serial …` sends). */
export function certIdFor(issuer: IssuerIdentity, serialNumber: string): OcspCertId {
  const hex = serialNumber.length % 2 ? `0${serialNumber}` : serialNumber;
  if (!/^[0-9a-f]+$/i.test(hex)) throw new PkiError('MALFORMED', 'serial is not hex');
  const nameHash = createHash('sha1').update(issuer.subjectDer).digest();
  const keyHash = createHash('sha1').update(issuer.publicKeyBits).digest();
  const der = sequence(sequence(oid(OIDS.sha1), NULL), octetString(nameHash), octetString(keyHash), unsignedInteger(Buffer.from(hex, 'hex')));
  return { der, hashAlgorithm: OIDS.sha1, issuerNameHash: nameHash, issuerKeyHash: keyHash, serialNumber: serialHex(Buffer.from(hex, 'hex')) };
}

export type CertStatus =
  | { status: 'good' }
  | { status: 'unknown' }
  | { status: 'revoked'; revokedAt: Date; reason: RevocationReason };

export interface SingleResponseParams {
  certIdDer: Buffer;
  certStatus: CertStatus;
  thisUpdate: Date;
  nextUpdate: Date;
}

/** One SingleResponse, encoded: what a cache keeps, so a nonce request only re-encodes ResponseData and signs. */
export function encodeSingleResponse(params: SingleResponseParams): Buffer {
  let status: Buffer;
  switch (params.certStatus.status) {
    case 'good': status = Buffer.from([0x80, 0x00]); break;
    case 'unknown': status = Buffer.from([0x82, 0x00]); break;
    default: {
      const revokedInfo = [generalizedTime(params.certStatus.revokedAt)];
      const code = REVOCATION_REASONS[params.certStatus.reason];
      revokedInfo.push(explicit(0, enumerated(code)));
      status = tlv(0xa1, ...revokedInfo);
    }
  }
  return sequence(params.certIdDer, status, generalizedTime(params.thisUpdate), explicit(0, generalizedTime(params.nextUpdate)));
}

export interface OcspResponder {
  certificateDer: Buffer;
  /** SHA-1 of the responder certificate's public key bits (ResponderID byKey). */
  keyHash: Buffer;
  signer: Signer;
}

export function responderKeyHash(responderPublicKeyBits: Buffer): Buffer {
  return createHash('sha1').update(responderPublicKeyBits).digest();
}

/**
 * A successful OCSPResponse (basic) signed by the delegated responder, its certificate included so clients can
 * check it chains to the issuer. `nonce` is the request's nonce extnValue, echoed unchanged.
 */
export function buildOcspResponse(params: { responder: OcspResponder; producedAt: Date; singleResponses: Buffer[]; nonce?: Buffer }): Buffer {
  const data = [tlv(0xa2, octetString(params.responder.keyHash)), generalizedTime(params.producedAt), sequence(...params.singleResponses)];
  if (params.nonce) data.push(explicit(1, sequence(sequence(oid(OIDS.nonce), octetString(params.nonce)))));
  const basic = signed(sequence(...data), params.responder.signer, [explicit(0, sequence(params.responder.certificateDer))]);
  return sequence(enumerated(0), explicit(0, sequence(oid(OIDS.basicResponse), octetString(basic))));
}

/** An unsuccessful OCSPResponse: only the status (RFC 6960 §4.2.1), unsigned. */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  return sequence(enumerated(OCSP_ERROR_STATUS[status]));
}

/** The response status of an OCSPResponse (0 = successful), for tests and clients of the lib. */
export function ocspResponseStatus(der: Buffer): number {
  const [status] = children(readOnly(der).content);
  if (status?.tag !== TAG.enumerated) throw new PkiError('MALFORMED', 'not an OCSPResponse');
  return status.content[0]!;
}
