import { randomBytes } from 'node:crypto';

/** An OCSPRequest (DER) for one CertID, with a fresh 16-byte nonce extension when asked. */
export function ocspRequest(certIdDer: Buffer, nonce: boolean): Buffer {
  const der = (tag: number, content: Buffer) => {
    const n = content.length;
    const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, content]);
  };
  const list = der(0x30, der(0x30, certIdDer));
  const parts = [list];
  if (nonce) {
    const ext = der(0x30, Buffer.concat([Buffer.from('06092b0601050507300102', 'hex'), der(0x04, der(0x04, randomBytes(16)))]));
    parts.push(der(0xa2, der(0x30, ext)));
  }
  return der(0x30, der(0x30, Buffer.concat(parts)));
}
