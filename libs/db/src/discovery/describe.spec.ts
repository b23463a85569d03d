import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { x509 } from '@certctl/pki';
import { describeDiscovered, describeNatively, describeWithAsn1Parser } from './describe';

const DAY = 86_400_000;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;

async function certificate(name: string, serialNumber: string, options: { rsa?: boolean; ca?: boolean; sans?: x509.JsonGeneralNames } = {}) {
  const keys = await webcrypto.subtle.generateKey(options.rsa ? RSA : EC, true, ['sign', 'verify']) as CryptoKeyPair;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true)];
  if (options.sans) extensions.push(new x509.SubjectAlternativeNameExtension(options.sans));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber, name, keys, extensions, signingAlgorithm: options.rsa ? RSA : EC,
    notBefore: new Date(Math.floor(Date.now() / 1000) * 1000 - DAY), notAfter: new Date(Math.floor(Date.now() / 1000) * 1000 + 90 * DAY),
  });
  return Buffer.from(cert.rawData);
}

describe('describeDiscovered', () => {
  // OpenSSL's parser describes the common certificates; whatever it might render differently goes through the
  // ASN.1 parser: either way the stored fields are exactly the ASN.1 parser's.
  it('describes every kind of certificate exactly as the ASN.1 parser does', async () => {
    const certificates = await Promise.all([
      certificate('C=US, O=Example Org, OU=Web, CN=Example Root', '80ab01', { ca: true }),
      certificate('CN=www.example.test', '0abc', { rsa: true, sans: [{ type: 'dns', value: 'www.example.test' }, { type: 'ip', value: '192.0.2.7' }, { type: 'email', value: 'ops@example.test' }] }),
      certificate('DC=test, DC=example, CN=*.example.test', '7f', { sans: [{ type: 'dns', value: '*.example.test' }] }),
      // escaped characters, unusual attributes and SAN types: the ASN.1 parser's path
      certificate('O=Acme\\, Inc., CN=acme.test', '01', { sans: [{ type: 'ip', value: '2001:db8::1' }, { type: 'url', value: 'https://acme.test/a,b' }] }),
      certificate('E=admin@example.test, CN=mail.example.test', 'ff00', { sans: [{ type: 'dns', value: 'mail.example.test' }] }),
      certificate('CN=Zürich Büro', '00ff', {}),
      certificate('CN=no sans here', '12345678901234567890', {}),
    ]);
    for (const der of certificates) {
      const described = describeDiscovered([der], '192.0.2.1:443', 'network');
      const { pem_data, pem_chain, fingerprint_sha256, chain_length, source_path, source_format, ...fields } = described;
      expect(fields).toEqual(describeWithAsn1Parser(pem_data));
      expect(fingerprint_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect({ chain_length, source_path, source_format, pem_chain: pem_chain === pem_data }).toEqual({ chain_length: 1, source_path: '192.0.2.1:443', source_format: 'network', pem_chain: true });
    }
    // the first three (and the last) are plain: OpenSSL's fast path; the others are not
    expect(certificates.map((der) => describeNatively(der) !== undefined)).toEqual([true, true, true, false, false, false, true]);
    const root = describeDiscovered([certificates[0]!], 'x:1', 'network');
    expect(root).toMatchObject({ subject_dn: 'C=US, O=Example Org, OU=Web, CN=Example Root', common_name: 'Example Root', serial_number: '80ab01', is_ca: true, key_algorithm: 'ECDSA', key_size: 256 });
    expect(describeDiscovered([certificates[1]!], 'x:1', 'network')).toMatchObject({ sans: ['www.example.test', '192.0.2.7', 'ops@example.test'], key_algorithm: 'RSA', key_size: 2048, serial_number: '0abc' });
  });

  it('describes a PEM chain (agents\' reports) like a DER one', async () => {
    const der = await certificate('CN=agent.example.test', '42', { sans: [{ type: 'dns', value: 'agent.example.test' }] });
    const fromDer = describeDiscovered([der], '/etc/ssl/a.pem', 'PEM');
    expect(describeDiscovered([fromDer.pem_data], '/etc/ssl/a.pem', 'PEM')).toEqual(fromDer);
  });
});
