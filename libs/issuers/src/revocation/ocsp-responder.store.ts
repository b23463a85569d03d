import { createPrivateKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { certificatePemToDer, decryptSecret, encryptSecret, issueLeafCertificate, issuerIdentityOf, OcspResponder, privateKeyPemOf, responderKeyHash } from '@certctl/pki';
import { RevocationAuthority } from './revocation-authorities';

interface ResponderRow {
  cert_pem: string;
  cert_serial: string;
  encrypted_private_key: Buffer;
  not_after: Date;
}

/** Certificate times are whole seconds: a responder certificate cut at the CA's end may end up to this much before it. */
const CA_END_SLACK_MS = 2_000;
const RECHECK_AT_CA_END_MS = 60_000;

function notAfterOf(row: ResponderRow): number {
  return new Date(row.not_after).getTime();
}

/**
 * The delegated OCSP responder of each issuer (RFC 6960 §4.2.2.2): an ECDSA P-256 certificate signed by the
 * issuer's CA with EKU OCSPSigning and id-pkix-ocsp-nocheck, its key encrypted at rest in ocsp_responders.
 * Replaced when it is within the rotation grace of its end; replicas agree on one through an advisory lock.
 */
@Injectable()
export class OcspResponderStore {
  private readonly loaded = new Map<string, { responder: OcspResponder; renewAt: number }>();
  private readonly loading = new Map<string, Promise<OcspResponder>>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource, @Inject(APP_CONFIG) private readonly config: AppConfig) {}

  current(authority: RevocationAuthority): Promise<OcspResponder> {
    const hit = this.loaded.get(authority.issuerId);
    if (hit && Date.now() < hit.renewAt) return Promise.resolve(hit.responder);
    let pending = this.loading.get(authority.issuerId);
    if (!pending) {
      pending = this.load(authority).finally(() => this.loading.delete(authority.issuerId));
      this.loading.set(authority.issuerId, pending);
    }
    return pending;
  }

  private async load(authority: RevocationAuthority): Promise<OcspResponder> {
    const secret = this.config.pki.encryptionKey;
    if (!secret) throw new Error('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the OCSP responder key cannot be kept');
    const grace = this.config.revocation.ocspResponderRotationGraceMs;
    const caEnd = authority.ca.certificate.notAfter.getTime();
    // Outside its grace, or already lasting as long as the CA does: a new certificate could last no longer (a CA
    // that ends within the grace would otherwise have every request mint another responder certificate).
    const fresh = (row: ResponderRow | undefined): boolean => !!row && (notAfterOf(row) - grace > Date.now() || notAfterOf(row) >= caEnd - CA_END_SLACK_MS);
    let [row] = await this.dataSource.query<ResponderRow[]>('SELECT cert_pem, cert_serial, encrypted_private_key, not_after FROM ocsp_responders WHERE issuer_id = $1', [authority.issuerId]);
    if (!fresh(row)) {
      row = await this.dataSource.transaction(async (tx) => {
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('certctl-ocsp-responder:' || $1))`, [authority.issuerId]);
        const [current] = await tx.query<ResponderRow[]>('SELECT cert_pem, cert_serial, encrypted_private_key, not_after FROM ocsp_responders WHERE issuer_id = $1', [authority.issuerId]);
        if (fresh(current)) return current!; // another replica rotated it meanwhile
        const made = this.issue(authority, secret);
        await tx.query(
          `INSERT INTO ocsp_responders (issuer_id, cert_pem, cert_serial, encrypted_private_key, key_alg, not_before, not_after, rotated_from)
           VALUES ($1, $2, $3, $4, 'ECDSA-P256', $5, $6, $7)
           ON CONFLICT (issuer_id) DO UPDATE SET cert_pem = EXCLUDED.cert_pem, cert_serial = EXCLUDED.cert_serial,
             encrypted_private_key = EXCLUDED.encrypted_private_key, not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after,
             rotated_from = EXCLUDED.rotated_from, updated_at = now()`,
          [authority.issuerId, made.cert_pem, made.cert_serial, made.encrypted_private_key, made.not_before, made.not_after, current?.cert_serial ?? null],
        );
        return made;
      });
    }
    row = row!;
    const der = certificatePemToDer(row.cert_pem);
    const responder: OcspResponder = {
      certificateDer: der,
      keyHash: responderKeyHash(issuerIdentityOf(der).publicKeyBits),
      signer: { key: createPrivateKey(decryptSecret(row.encrypted_private_key, secret).toString('utf8')), spec: { algorithm: 'ECDSA', curve: 'P-256' } },
    };
    // Held until its grace begins; one that already runs to the CA's end is looked at again each minute (a renewed
    // CA certificate makes a longer-lived responder certificate possible), never per request.
    const graceStarts = notAfterOf(row) - grace;
    this.loaded.set(authority.issuerId, { responder, renewAt: graceStarts > Date.now() ? graceStarts : Math.min(Date.now() + RECHECK_AT_CA_END_MS, notAfterOf(row)) });
    return responder;
  }

  private issue(authority: RevocationAuthority, secret: string): ResponderRow & { not_before: Date } {
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const notBefore = new Date(Date.now() - 60_000);
    const caEnd = authority.ca.certificate.notAfter.getTime();
    const notAfter = new Date(Math.min(notBefore.getTime() + this.config.revocation.ocspResponderValidityMs, caEnd));
    const cert = issueLeafCertificate(authority.ca, {
      publicKey: keys.publicKey, commonName: `ocsp-responder.${authority.issuerId}`, sans: [], notBefore, notAfter,
      ekus: ['OCSPSigning'], ocspNoCheck: true,
    });
    return {
      cert_pem: cert.pem, cert_serial: cert.serialNumber, not_before: notBefore, not_after: cert.notAfter,
      encrypted_private_key: encryptSecret(privateKeyPemOf(keys.privateKey as KeyObject), secret),
    };
  }
}
