import { createHash, KeyObject, sign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { ObjectIdentifier, RawData, ViewWriter } from 'asn1js';
import * as asn1 from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import type { x509 } from './crypto-provider';
import { KeySpec, toPem } from './keys';
import { sanTypeOf } from './names';

/**
 * Certificates and CSRs built from the @peculiar/asn1-x509 / asn1-csr classes and signed synchronously with a
 * node:crypto KeyObject. @peculiar/x509's generators do the same encoding but sign through WebCrypto, one
 * promise hop per step; on the issuance path that costs an order of magnitude more than the signature itself.
 */

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  crlDistributionPoints: '2.5.29.31',
  tlsFeature: '1.3.6.1.5.5.7.1.24',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  accessOcsp: '1.3.6.1.5.5.7.48.1',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  rsaEncryption: '1.2.840.113549.1.1.1',
} as const;

/** The signature algorithm certctl uses for a signer's key: ECDSA with the curve's hash, RSA PKCS#1 v1.5 SHA-256. */
function signatureAlgorithmOf(spec: KeySpec): { identifier: asn1.AlgorithmIdentifier; hash: string } {
  if (spec.algorithm === 'ECDSA') {
    const sha384 = spec.curve === 'P-384';
    return { identifier: new asn1.AlgorithmIdentifier({ algorithm: sha384 ? OID.ecdsaWithSha384 : OID.ecdsaWithSha256 }), hash: sha384 ? 'sha384' : 'sha256' };
  }
  return { identifier: new asn1.AlgorithmIdentifier({ algorithm: OID.sha256WithRsa, parameters: null }), hash: 'sha256' };
}

function extension(extnID: string, critical: boolean, value: unknown): asn1.Extension {
  return new asn1.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function commonNameOnly(commonName: string): asn1.Name {
  return new asn1.Name([
    new asn1.RelativeDistinguishedName([
      new asn1.AttributeTypeAndValue({ type: OID.commonName, value: new asn1.AttributeValue({ utf8String: commonName }) }),
    ]),
  ]);
}

function generalNames(names: string[]): asn1.GeneralName[] {
  return names.map((value) => {
    switch (sanTypeOf(value)) {
      case 'ip': return new asn1.GeneralName({ iPAddress: value });
      case 'email': return new asn1.GeneralName({ rfc822Name: value });
      case 'url': return new asn1.GeneralName({ uniformResourceIdentifier: value });
      default: return new asn1.GeneralName({ dNSName: value });
    }
  });
}

/** The SubjectPublicKeyInfo DER of a key in any of the forms libs/pki hands around. */
export function spkiDerOf(key: KeyObject | CryptoKey | x509.PublicKey): Buffer {
  if (key instanceof KeyObject) return key.export({ type: 'spki', format: 'der' });
  if ('rawData' in key) return Buffer.from(key.rawData);
  return KeyObject.from(key).export({ type: 'spki', format: 'der' });
}

/** What signs: the CA's key as a KeyObject (converted once per CryptoKey, then remembered). */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();
export function keyObjectOf(key: CryptoKey | KeyObject): KeyObject {
  if (key instanceof KeyObject) return key;
  let found = keyObjects.get(key);
  if (!found) {
    found = KeyObject.from(key);
    keyObjects.set(key, found);
  }
  return found;
}

export interface CertificateAuthorityTemplate {
  issuer: asn1.Name;
  notAfter: Date;
  authorityKeyIdentifier: asn1.Extension;
  signingKey: KeyObject;
  signatureAlgorithm: asn1.AlgorithmIdentifier;
  hash: string;
  /** The extensions every leaf with the same key type and profile gets, encoded once (see constantExtensions). */
  extensionSets: Map<string, { beforeSki: asn1.Extension[]; afterSan: asn1.Extension[] }>;
}

/** An ASN.1 value encoded now and embedded as these bytes wherever it is used later. */
function encodedOnce<T>(value: object): T {
  return new AlreadyEncoded(Buffer.from(AsnConvert.serialize(value))) as unknown as T;
}

/** What every leaf of one CA shares, decoded once from the CA certificate (its subject and key identifier). */
export function caTemplateOf(caCertificateDer: ArrayBuffer | Buffer, signingKey: KeyObject, spec: KeySpec): CertificateAuthorityTemplate {
  const caCert = AsnConvert.parse(caCertificateDer, asn1.Certificate);
  const tbs = caCert.tbsCertificate;
  const ski = tbs.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  const keyIdentifier = ski
    ? AsnConvert.parse(ski.extnValue.buffer, asn1.SubjectKeyIdentifier)
    : new asn1.KeyIdentifier(sha1(tbs.subjectPublicKeyInfo.subjectPublicKey));
  const { identifier, hash } = signatureAlgorithmOf(spec);
  // Parts of every leaf's TBSCertificate that only depend on the CA: encoded here once.
  return {
    issuer: encodedOnce(tbs.subject),
    notAfter: tbs.validity.notAfter.getTime(),
    authorityKeyIdentifier: encodedOnce(extension(OID.authorityKeyIdentifier, false, new asn1.AuthorityKeyIdentifier({ keyIdentifier: new asn1.KeyIdentifier(keyIdentifier.buffer) }))),
    signingKey,
    signatureAlgorithm: encodedOnce(identifier),
    hash,
    extensionSets: new Map(),
  };
}

/**
 * The leaf extensions that do not depend on the subject (basic constraints, key usage, EKUs before the key
 * identifiers; CRL distribution points and TLS feature after the SANs), encoded once per CA, key type and profile.
 */
function constantExtensions(ca: CertificateAuthorityTemplate, leaf: LeafFields, isRsa: boolean): { beforeSki: asn1.Extension[]; afterSan: asn1.Extension[] } {
  const key = JSON.stringify([isRsa, leaf.ekuOids, leaf.crlDistributionPoints ?? [], !!leaf.mustStaple, leaf.ocspUrls ?? [], !!leaf.ocspNoCheck]);
  let set = ca.extensionSets.get(key);
  if (!set) {
    const usages = asn1.KeyUsageFlags.digitalSignature | (isRsa ? asn1.KeyUsageFlags.keyEncipherment : 0);
    const afterSan: asn1.Extension[] = [];
    if (leaf.crlDistributionPoints?.length) {
      afterSan.push(extension(OID.crlDistributionPoints, false, new asn1.CRLDistributionPoints(leaf.crlDistributionPoints.map((url) =>
        new asn1.DistributionPoint({ distributionPoint: new asn1.DistributionPointName({ fullName: [new asn1.GeneralName({ uniformResourceIdentifier: url })] }) })))));
    }
    if (leaf.ocspUrls?.length) {
      afterSan.push(extension(OID.authorityInfoAccess, false, new asn1.AuthorityInfoAccessSyntax(leaf.ocspUrls.map((url) =>
        new asn1.AccessDescription({ accessMethod: OID.accessOcsp, accessLocation: new asn1.GeneralName({ uniformResourceIdentifier: url }) })))));
    }
    // id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): a delegated responder's own status is not checked. Value NULL.
    if (leaf.ocspNoCheck) afterSan.push(new asn1.Extension({ extnID: OID.ocspNoCheck, critical: false, extnValue: new OctetString(Uint8Array.from([0x05, 0x00])) }));
    // TLS Feature: status_request (OCSP must-staple), SEQUENCE { INTEGER 5 }.
    if (leaf.mustStaple) afterSan.push(new asn1.Extension({ extnID: OID.tlsFeature, critical: false, extnValue: new OctetString(Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x05])) }));
    set = {
      beforeSki: [
        extension(OID.basicConstraints, true, new asn1.BasicConstraints({ cA: false })),
        extension(OID.keyUsage, true, new asn1.KeyUsage(usages)),
        extension(OID.extKeyUsage, false, new asn1.ExtendedKeyUsage(leaf.ekuOids)),
      ].map((e) => encodedOnce<asn1.Extension>(e)),
      afterSan: afterSan.map((e) => encodedOnce<asn1.Extension>(e)),
    };
    if (ca.extensionSets.size > 100) ca.extensionSets.clear(); // profiles are few; this only bounds a pathological mix
    ca.extensionSets.set(key, set);
  }
  return set;
}

function sha1(data: ArrayBuffer): ArrayBuffer {
  const digest = createHash('sha1').update(Buffer.from(data)).digest();
  return digest.buffer.slice(digest.byteOffset, digest.byteOffset + digest.byteLength) as ArrayBuffer;
}

const NAMED_CURVES: Record<string, string> = { 'P-256': '1.2.840.10045.3.1.7', 'P-384': '1.3.132.0.34' };
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
/** AlgorithmIdentifier { id-ecPublicKey, namedCurve } per curve, encoded once. */
const ecAlgorithms = new Map<string, asn1.AlgorithmIdentifier>();

/**
 * The subject key as it goes into the certificate, with the bits its key identifier hashes. An EC KeyObject is read
 * through its JWK export, which costs a fifth of node's SubjectPublicKeyInfo encoder: the key is the uncompressed
 * point 04 || x || y (RFC 5480 §2.2) under id-ecPublicKey with the named curve. Anything else is decoded from its DER.
 */
function subjectKeyOf(key: KeyObject | Buffer): { info: asn1.SubjectPublicKeyInfo; publicKeyBits: ArrayBuffer; isRsa: boolean } {
  if (key instanceof KeyObject && key.asymmetricKeyType === 'ec') {
    const jwk = key.export({ format: 'jwk' });
    const curve = jwk.crv ? NAMED_CURVES[jwk.crv] : undefined;
    if (curve && jwk.x && jwk.y) {
      let algorithm = ecAlgorithms.get(curve);
      if (!algorithm) {
        algorithm = encodedOnce<asn1.AlgorithmIdentifier>(new asn1.AlgorithmIdentifier({ algorithm: EC_PUBLIC_KEY, parameters: new ObjectIdentifier({ value: curve }).toBER() }));
        ecAlgorithms.set(curve, algorithm);
      }
      const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
      const bits = point.buffer.slice(point.byteOffset, point.byteOffset + point.byteLength) as ArrayBuffer;
      return { info: new asn1.SubjectPublicKeyInfo({ algorithm, subjectPublicKey: bits }), publicKeyBits: bits, isRsa: false };
    }
  }
  const der = key instanceof KeyObject ? key.export({ type: 'spki', format: 'der' }) : key;
  const info = AsnConvert.parse(der, asn1.SubjectPublicKeyInfo);
  // Embedded as given: it was only decoded for the key identifier and type.
  return { info: new AlreadyEncoded(der) as unknown as asn1.SubjectPublicKeyInfo, publicKeyBits: info.subjectPublicKey, isRsa: info.algorithm.algorithm === OID.rsaEncryption };
}

export interface LeafFields {
  serialNumberHex: string;
  /** The subject's public key: a node:crypto KeyObject, or SubjectPublicKeyInfo DER. */
  subjectPublicKey: KeyObject | Buffer;
  commonName: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  ekuOids: string[];
  crlDistributionPoints?: string[];
  mustStaple?: boolean;
  /** Authority Information Access: OCSP responder URLs. */
  ocspUrls?: string[];
  /** A delegated OCSP responder's certificate: id-pkix-ocsp-nocheck. */
  ocspNoCheck?: boolean;
}

/** A built certificate and what the caller would otherwise have to parse back out of it. */
export interface BuiltCertificate {
  der: Buffer;
  pem: string;
  /** Lowercase hex, no leading zero octets. */
  serialNumber: string;
  /** As encoded: whole seconds. */
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 over the DER, lowercase hex. */
  fingerprintSha256: string;
}

/** Encodes and signs an end-entity certificate (v3; the extensions signLeafCertificate documents). */
export function buildLeafCertificate(ca: CertificateAuthorityTemplate, leaf: LeafFields): BuiltCertificate {
  const subject = subjectKeyOf(leaf.subjectPublicKey);
  const constant = constantExtensions(ca, leaf, subject.isRsa);
  const extensions = [
    ...constant.beforeSki,
    extension(OID.subjectKeyIdentifier, false, new asn1.SubjectKeyIdentifier(sha1(subject.publicKeyBits))),
    ca.authorityKeyIdentifier,
    extension(OID.subjectAltName, false, new asn1.SubjectAlternativeName(generalNames(leaf.sans.length ? leaf.sans : [leaf.commonName]))),
    ...constant.afterSan,
  ];
  const serial = Buffer.from(leaf.serialNumberHex, 'hex');
  const tbs = new asn1.TBSCertificate({
    version: asn1.Version.v3,
    serialNumber: serial.buffer.slice(serial.byteOffset, serial.byteOffset + serial.byteLength) as ArrayBuffer,
    signature: ca.signatureAlgorithm,
    issuer: ca.issuer,
    validity: new asn1.Validity({ notBefore: leaf.notBefore, notAfter: leaf.notAfter }),
    subject: commonNameOnly(leaf.commonName),
    subjectPublicKeyInfo: subject.info,
    extensions: new asn1.Extensions(extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign(ca.hash, tbsDer, ca.signingKey);
  const der = Buffer.from(AsnConvert.serialize(new asn1.Certificate({
    tbsCertificate: new AlreadyEncoded(tbsDer) as unknown as asn1.TBSCertificate,
    signatureAlgorithm: ca.signatureAlgorithm,
    signatureValue: signature.buffer.slice(signature.byteOffset, signature.byteOffset + signature.byteLength) as ArrayBuffer,
  })));
  return {
    der,
    pem: toPem(der, 'CERTIFICATE'),
    serialNumber: leaf.serialNumberHex.toLowerCase().replace(/^(00)+(?=.)/, ''),
    notBefore: wholeSeconds(leaf.notBefore),
    notAfter: wholeSeconds(leaf.notAfter),
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
  };
}

/**
 * A value asn1-schema embeds as the given DER (its IAsnConvertible hook) instead of encoding again: the signed
 * TBSCertificate goes into the Certificate exactly as it was signed, and is not serialised twice.
 */
class AlreadyEncoded {
  constructor(private readonly der: Buffer) {}

  toASN(): RawData {
    return new WrittenRawData({ data: this.der });
  }

  fromASN(): this {
    throw new Error('AlreadyEncoded is for encoding only');
  }
}

/** asn1js's RawData, also when its parent encodes through a ViewWriter (as Sequence does for its items). */
class WrittenRawData extends RawData {
  override toBER(sizeOnly?: boolean, writer?: ViewWriter): ArrayBuffer {
    const data = super.toBER(sizeOnly);
    if (!writer) return data;
    writer.write(data);
    return new ArrayBuffer(0);
  }
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** A PKCS#10 request for the names (CN, and a SAN extension request when there are SANs), signed with the key. */
export function buildCsr(params: { privateKey: KeyObject; publicKeyDer: Buffer; keySpec: KeySpec; commonName: string; sans: string[] }): string {
  const attributes = new Attributes();
  if (params.sans.length) {
    const requested = new asn1.Extensions([extension(OID.subjectAltName, false, new asn1.SubjectAlternativeName(generalNames(params.sans)))]);
    attributes.push(new asn1.Attribute({ type: OID.extensionRequest, values: [AsnConvert.serialize(requested)] }));
  }
  const info = new CertificationRequestInfo({
    version: 0,
    subject: commonNameOnly(params.commonName),
    subjectPKInfo: AsnConvert.parse(params.publicKeyDer, asn1.SubjectPublicKeyInfo),
    attributes,
  });
  const { identifier, hash } = signatureAlgorithmOf(params.keySpec);
  const signature = sign(hash, Buffer.from(AsnConvert.serialize(info)), params.privateKey);
  const der = AsnConvert.serialize(new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: identifier,
    signature: signature.buffer.slice(signature.byteOffset, signature.byteOffset + signature.byteLength) as ArrayBuffer,
  }));
  return toPem(der, 'CERTIFICATE REQUEST');
}
