import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import type * as PkiJs from 'pkijs';
import { PkiError } from './errors';

const PKCS8_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
/** PBKDF2 rounds for the key, the certificates and the MAC (OpenSSL 3's default is 2048; we spend more). */
const ITERATIONS = 100_000;

/** pkijs (half a megabyte of source) is loaded by the first PKCS#12 export, not by every app that links libs/pki. */
let pkijsLibrary: { pkijs: typeof PkiJs; engine: PkiJs.CryptoEngine } | undefined;
function loadPkijs(): { pkijs: typeof PkiJs; engine: PkiJs.CryptoEngine } {
  if (!pkijsLibrary) {
    const pkijs = require('pkijs') as typeof PkiJs;
    pkijsLibrary = { pkijs, engine: new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto }) };
  }
  return pkijsLibrary;
}

/**
 * A password-protected PKCS#12 bundle of a private key and its certificate chain (leaf first), in the
 * "modern" profile OpenSSL 3 writes by default: key and certificates encrypted with AES-256-CBC under
 * PBKDF2-HMAC-SHA256, integrity by HMAC-SHA256. The leaf and the key share a localKeyId so readers pair them.
 */
export async function createPkcs12(keyPem: string, certificatePems: string[], password: string): Promise<Buffer> {
  if (!certificatePems.length) throw new PkiError('MALFORMED', 'a PKCS#12 bundle needs at least one certificate');
  const { pkijs, engine } = loadPkijs();
  const passwordBytes = new TextEncoder().encode(password).buffer as ArrayBuffer;
  const encryption = { password: passwordBytes, contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 } as PkiJs.ContentEncryptionAlgorithm, hmacHashAlgorithm: 'SHA-256', iterationCount: ITERATIONS };
  const certificates = certificatePems.map((pem) => pkijs.Certificate.fromBER(derOf(pem, 'CERTIFICATE')));
  const localKeyId = new Uint8Array(await webcrypto.subtle.digest('SHA-256', certificates[0]!.toSchema().toBER(false))).slice(0, 20);
  const keyIdAttribute = () => new pkijs.Attribute({ type: LOCAL_KEY_ID, values: [new asn1js.OctetString({ valueHex: localKeyId })] });

  const keyBag = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkijs.PrivateKeyInfo.fromBER(derOf(keyPem, 'PRIVATE KEY')) });
  await keyBag.makeInternalValues(encryption, engine);
  const certBags = certificates.map((certificate, i) => new pkijs.SafeBag({
    bagId: CERT_BAG, bagValue: new pkijs.CertBag({ parsedValue: certificate }), ...(i === 0 ? { bagAttributes: [keyIdAttribute()] } : {}),
  }));

  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certBags }) },
            { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [new pkijs.SafeBag({ bagId: PKCS8_SHROUDED_KEY_BAG, bagValue: keyBag, bagAttributes: [keyIdAttribute()] })] }) },
          ],
        },
      }),
    },
  });
  await pfx.parsedValue!.authenticatedSafe!.makeInternalValues({ safeContents: [encryption, {}] }, engine);
  await pfx.makeInternalValues({ password: passwordBytes, iterations: ITERATIONS, pbkdf2HashAlgorithm: { name: 'SHA-256' }, hmacHashAlgorithm: 'SHA-256' }, engine);
  return Buffer.from(pfx.toSchema().toBER(false));
}

function derOf(pem: string, label: string): ArrayBuffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(pem);
  if (!match) throw new PkiError('MALFORMED', `expected a PEM ${label}`);
  const der = Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}
