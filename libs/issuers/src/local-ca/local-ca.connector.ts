import { readFile } from 'node:fs/promises';
import {
  createCaCertificate, crlShardOf, decryptSecret, describeCertificate, encryptSecret, exportPrivateKeyPem, generateKeyPair,
  importPrivateKeyPem, IntermediateSigner, issueLeafCertificate, KeySpec, LeafRequest, PkiError, randomSerial, SigningAuthority, signIntermediateCa, splitPemChain, x509,
} from '@certctl/pki';
import { IssuedCertificate, IssueRequest, IssuerConnector, IssuerError, KeyIssueRequest } from '../issuer-connector';
import { profileViolation, validityFor } from '../profile';
import { CaStore } from './ca-store';

export interface LocalCaConfig {
  validity_days?: number;
  ca_common_name?: string;
  crl_url?: string;
  /**
   * CRL partitions (1 to 256, default 1: one CRL). Above 1 each leaf is put in the shard of its serial and its
   * CRL Distribution Point is the shard's URL: the issuer's CRL URL with `/{shard}` appended.
   */
  crl_shards?: number;
  /** Intermediate CA (intermediate_cas id) of this issuer's tree that signs the leaves, instead of the root. */
  signing_intermediate_id?: string;
  /** AIA OCSP responder URL put in leaves; defaults to CERTCTL_PKI_BASE_URL's /.well-known/pki/ocsp/{issuer}. */
  ocsp_url?: string;
  /** Sub-CA mode: PEM files of the CA certificate (and its upstream chain) and its private key. */
  ca_cert_path?: string;
  ca_key_path?: string;
}

export interface LocalCaDeps {
  store: CaStore;
  /** CERTCTL_CONFIG_ENCRYPTION_KEY; needed to keep a generated root's key. */
  encryptionKey: string | undefined;
  /** CERTCTL_CA_CERT_PATH / CERTCTL_CA_KEY_PATH: the server-wide sub-CA, when set. */
  defaultCaCertPath?: string;
  defaultCaKeyPath?: string;
  /** CERTCTL_PKI_BASE_URL: where this server's CRLs and OCSP responder are published. */
  pkiBaseUrl?: string;
}

interface LoadedAuthority extends SigningAuthority {
  /** Issuer first, up to (and including) the root. */
  chainPems: string[];
  /** The key as read, for signing in another thread (CaSigningWorker). */
  keyPem: string;
}

// P-256: as strong as the leaves it signs, and its signatures cost a quarter of P-384's on every issuance.
const ROOT_SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

/** A request for the CA tree that breaks one of its rules; `field` names the request field at fault. */
export class CaHierarchyError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'CaHierarchyError';
  }
}

export interface IntermediateRequest {
  commonName: string;
  /** Another intermediate of this issuer; the issuer's root when absent. */
  parentId?: string;
  pathLength?: number;
  nameConstraints?: { permittedDnsDomains?: string[]; excludedDnsDomains?: string[] };
  validityDays: number;
}

export interface CreatedIntermediate {
  certificatePem: string;
  encryptedPrivateKey: Buffer;
  pathLength: number | undefined;
  /** The new CA first, up to the root. */
  chainPems: string[];
}
const DEFAULT_VALIDITY_DAYS = 90;

/**
 * certctl's GenericCA ("local"): signs with a self-signed root it creates on first use and keeps in Postgres
 * (key encrypted), or with a sub-CA loaded from PEM files whose chain leads to an upstream root.
 */
export class LocalCaConnector implements IssuerConnector {
  private authority: Promise<LoadedAuthority> | undefined;
  private root: Promise<LoadedAuthority> | undefined;

  constructor(
    private readonly issuerId: string,
    private readonly config: LocalCaConfig,
    private readonly deps: LocalCaDeps,
  ) {}

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const violation = profileViolation(request.csr, request.profile);
    if (violation) throw new IssuerError('permanent', violation);
    return this.sign({ ...request, publicKey: request.csr.publicKey });
  }

  /** Server keygen: the same checks and certificate as for a CSR of this key with the certificate's names. */
  async issueForKey(request: KeyIssueRequest): Promise<IssuedCertificate> {
    const violation = profileViolation(request, request.profile);
    if (violation) throw new IssuerError('permanent', violation);
    return this.sign(request);
  }

  private async sign(request: Pick<IssueRequest, 'commonName' | 'sans' | 'profile'> & { publicKey: LeafRequest['publicKey'] }): Promise<IssuedCertificate> {
    const ca = await this.load();
    const { notBefore, notAfter } = validityFor(request.profile, this.config.validity_days ?? DEFAULT_VALIDITY_DAYS);
    if (notAfter > ca.certificate.notAfter) throw new IssuerError('permanent', 'the CA certificate expires before the requested validity ends');
    const serialNumberHex = randomSerial();
    const shard = this.crlShards > 1 ? crlShardOf(serialNumberHex, this.crlShards) : undefined;
    const crlUrl = this.crlDistributionPoint(shard);
    const leaf = issueLeafCertificate(ca, {
      serialNumberHex,
      publicKey: request.publicKey,
      commonName: request.commonName,
      sans: request.sans,
      notBefore,
      notAfter,
      ekus: request.profile?.allowed_ekus.length ? request.profile.allowed_ekus : ['serverAuth'],
      crlDistributionPoints: crlUrl === undefined ? undefined : [crlUrl],
      ocspUrls: this.ocspUrls(),
      mustStaple: request.profile?.must_staple,
    });
    const { serialNumber, fingerprintSha256 } = leaf;
    return {
      leafPem: leaf.pem, chainPems: ca.chainPems,
      details: { serialNumber, notBefore: leaf.notBefore, notAfter: leaf.notAfter, fingerprintSha256, ...(shard === undefined ? {} : { crlShard: shard }) },
    };
  }

  /** How many CRL partitions new leaves are spread over (1: the one unsharded CRL, as before sharding). */
  get crlShards(): number {
    return this.config.crl_shards ?? 1;
  }

  /**
   * The CRL Distribution Point of the leaves of `shard` (the issuer's full CRL when undefined): the issuer's own
   * URL, else the server's, with `/{shard}` appended for a shard; none rather than an empty one. A shard's CRL
   * names the same URL in its Issuing Distribution Point.
   */
  crlDistributionPoint(shard?: number): string | undefined {
    const base = this.config.crl_url
      ?? (this.deps.pkiBaseUrl ? `${this.deps.pkiBaseUrl}/.well-known/pki/crl/${encodeURIComponent(this.issuerId)}` : undefined);
    if (base === undefined || shard === undefined) return base;
    return `${base.replace(/\/+$/, '')}/${shard}`;
  }

  private ocspUrls(): string[] | undefined {
    if (this.config.ocsp_url) return [this.config.ocsp_url];
    return this.deps.pkiBaseUrl ? [`${this.deps.pkiBaseUrl}/.well-known/pki/ocsp/${encodeURIComponent(this.issuerId)}`] : undefined;
  }

  /** The CA that signs this issuer's leaves, CRLs and OCSP responder certificates (chain: issuer first). */
  async signingAuthority(): Promise<SigningAuthority & { chainPems: string[] }> {
    return this.load();
  }

  async test(): Promise<string> {
    const ca = await this.load();
    const info = describeCertificate(ca.chainPems[0]!);
    return `${info.subject}, valid until ${info.notAfter.toISOString()}`;
  }

  /** The signing authority (the root, or the configured intermediate), loaded once per process. */
  private load(): Promise<LoadedAuthority> {
    this.authority ??= (this.config.signing_intermediate_id ? this.intermediate(this.config.signing_intermediate_id, true) : this.loadRoot())
      .catch((err: unknown) => {
        this.authority = undefined;
        throw err instanceof IssuerError ? err : new IssuerError('permanent', `local CA unavailable: ${(err as Error).message}`, { cause: err });
      });
    return this.authority;
  }

  private loadRoot(): Promise<LoadedAuthority> {
    this.root ??= this.loadAuthority().catch((err: unknown) => {
      this.root = undefined;
      throw err;
    });
    return this.root;
  }

  private async loadAuthority(): Promise<LoadedAuthority> {
    const certPath = this.config.ca_cert_path ?? this.deps.defaultCaCertPath;
    const keyPath = this.config.ca_key_path ?? this.deps.defaultCaKeyPath;
    if (certPath && keyPath) return this.fromFiles(certPath, keyPath);
    return this.fromDatabase();
  }

  /** An intermediate of this issuer's tree with its chain up to the root. */
  private async intermediate(id: string, mustBeActive: boolean): Promise<LoadedAuthority> {
    const secret = this.deps.encryptionKey;
    if (!secret) throw new IssuerError('permanent', 'CERTCTL_CONFIG_ENCRYPTION_KEY is not set: intermediate keys cannot be read');
    const row = await this.deps.store.loadIntermediate(id);
    if (!row || row.owning_issuer_id !== this.issuerId) throw new CaHierarchyError('parent_ca_id', `intermediate CA ${id} does not belong to issuer ${this.issuerId}`);
    if (mustBeActive && row.state !== 'active') throw new CaHierarchyError('parent_ca_id', `intermediate CA ${id} is ${row.state}`);
    const parent = row.parent_ca_id ? await this.intermediate(row.parent_ca_id, false) : await this.loadRoot();
    return this.authorityOf([row.cert_pem, ...parent.chainPems], decryptSecret(row.encrypted_private_key, secret).toString('utf8'));
  }

  /**
   * Makes an intermediate CA signed by `parentId` (or the root): P-256, basic constraints with the path length
   * (at most the parent's minus one; refused under a parent whose path length is 0), optional DNS name
   * constraints, never outliving its parent. The caller stores it. `sign` makes the key and the certificate: here
   * by default, or in a worker thread (the api passes CaSigningWorker's).
   */
  async createIntermediate(request: IntermediateRequest, sign: IntermediateSigner = signIntermediateCa): Promise<CreatedIntermediate> {
    const secret = this.deps.encryptionKey;
    if (!secret) throw new IssuerError('permanent', 'CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the intermediate key cannot be kept');
    const parent = request.parentId ? await this.intermediate(request.parentId, true) : await this.loadRoot();
    const parentPathLength = parent.certificate.getExtension(x509.BasicConstraintsExtension)?.pathLength;
    if (parentPathLength === 0) throw new CaHierarchyError('parent_ca_id', 'the parent CA has path length 0: it may not sign another CA');
    const pathLength = request.pathLength ?? (parentPathLength !== undefined ? parentPathLength - 1 : undefined);
    if (parentPathLength !== undefined && pathLength !== undefined && pathLength >= parentPathLength) {
      throw new CaHierarchyError('path_len_constraint', `must be less than the parent's path length ${parentPathLength}`);
    }
    const signed = await sign({
      parentCertificatePem: parent.chainPems[0]!, parentKeyPem: parent.keyPem, commonName: request.commonName, validityDays: request.validityDays,
      pathLength, nameConstraints: request.nameConstraints, encryptionKey: secret,
    });
    return { certificatePem: signed.certificatePem, pathLength, chainPems: [signed.certificatePem, ...parent.chainPems], encryptedPrivateKey: signed.encryptedPrivateKey };
  }

  private async fromFiles(certPath: string, keyPath: string): Promise<LoadedAuthority> {
    const [bundle, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    const chainPems = splitPemChain(bundle);
    if (!chainPems.length) throw new IssuerError('permanent', `${certPath} holds no certificate`);
    return this.authorityOf(chainPems, keyPem);
  }

  private async fromDatabase(): Promise<LoadedAuthority> {
    const secret = this.deps.encryptionKey;
    if (!secret) throw new IssuerError('permanent', 'CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the local CA cannot keep its key');
    let stored = await this.deps.store.load(this.issuerId);
    if (!stored) {
      const keys = await generateKeyPair(ROOT_SPEC);
      const certificatePem = await createCaCertificate({
        keys, keySpec: ROOT_SPEC, commonName: this.config.ca_common_name ?? `certctl Local CA (${this.issuerId})`, validityDays: 3650,
      });
      stored = await this.deps.store.saveIfAbsent(this.issuerId, {
        certificate_pem: certificatePem,
        chain_pem: '',
        encrypted_private_key: encryptSecret(await exportPrivateKeyPem(keys.privateKey), secret),
      });
    }
    const keyPem = decryptSecret(stored.encrypted_private_key, secret).toString('utf8');
    return this.authorityOf([stored.certificate_pem, ...splitPemChain(stored.chain_pem)], keyPem);
  }

  private async authorityOf(chainPems: string[], keyPem: string): Promise<LoadedAuthority> {
    const certificate = new x509.X509Certificate(chainPems[0]!);
    const { keys, spec } = await importPrivateKeyPem(keyPem).catch((err: unknown) => {
      throw new IssuerError('permanent', err instanceof PkiError ? `CA key: ${err.message}` : 'CA key unreadable');
    });
    const matches = Buffer.from(await certificate.publicKey.getThumbprint()).equals(
      Buffer.from(await new x509.PublicKey(await crypto.subtle.exportKey('spki', keys.publicKey)).getThumbprint()),
    );
    if (!matches) throw new IssuerError('permanent', 'the CA key does not belong to the CA certificate');
    if (!describeCertificate(chainPems[0]!).isCa) throw new IssuerError('permanent', 'the CA certificate is not a CA (basicConstraints)');
    return { certificate, privateKey: keys.privateKey, keySpec: spec, chainPems, keyPem };
  }
}
