import { enumerated, explicit, integerOf, octetString, oid, sequence, tlv, TAG, unsignedInteger, x509Time } from '@certctl/pki';
import { CrlParams, REVOCATION_REASONS, signatureAlgorithm, signed } from '@certctl/pki';

/**
 * bench:crl's baseline: libs/pki's buildCrl as it was before sharding (commit 1c9ee7a), one Buffer per field and
 * per entry joined with Buffer.concat. Kept here, not in libs/pki, only so the bench can show what the direct
 * writer changed; same output bytes for the same input (the bench checks it).
 */
export function buildCrlPerEntry(params: CrlParams): Buffer {
  const { identifier } = signatureAlgorithm(params.signer.spec);
  const reasonExtensions = new Map<number, Buffer>();
  const entries = params.revoked.map((entry) => {
    const code = REVOCATION_REASONS[entry.reason];
    const hex = entry.serialNumber.length % 2 ? `0${entry.serialNumber}` : entry.serialNumber;
    const parts = [unsignedInteger(Buffer.from(hex, 'hex')), x509Time(entry.revokedAt)];
    if (code !== 0) {
      let ext = reasonExtensions.get(code);
      if (!ext) reasonExtensions.set(code, (ext = sequence(sequence(oid('2.5.29.21'), octetString(enumerated(code))))));
      parts.push(ext);
    }
    return sequence(...parts);
  });
  const tbsParts = [integerOf(1), identifier, params.issuer.subjectDer, x509Time(params.thisUpdate), x509Time(params.nextUpdate)];
  if (entries.length) tbsParts.push(tlv(TAG.sequence, Buffer.concat(entries)));
  const extensions = [
    sequence(oid('2.5.29.35'), octetString(sequence(tlv(0x80, params.issuer.keyIdentifier)))),
    sequence(oid('2.5.29.20'), octetString(integerOf(params.crlNumber))),
  ];
  if (params.distributionPoint !== undefined) {
    const idp = sequence(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(params.distributionPoint, 'ascii')))));
    extensions.push(sequence(oid('2.5.29.28'), Buffer.from([TAG.boolean, 1, 0xff]), octetString(idp)));
  }
  tbsParts.push(explicit(0, sequence(...extensions)));
  return signed(sequence(...tbsParts), params.signer);
}
