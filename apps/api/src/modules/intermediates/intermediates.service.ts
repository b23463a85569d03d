import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { newId } from '@certctl/db';
import { CaHierarchyError, CRL_CAPABLE_ISSUER_TYPES, IssuerConnectors, IssuerError, LocalCaConnector } from '@certctl/issuers';
import { CaSigningWorker, describeCertificate } from '@certctl/pki';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { CreateIntermediateDto } from './dto/intermediate.dto';

/** certctl's intermediate CA as the API shows it: never the key. */
export interface IntermediateCa {
  id: string;
  owning_issuer_id: string;
  parent_ca_id: string | null;
  name: string;
  subject: string;
  state: string;
  cert_pem: string;
  key_driver_id: string;
  not_before: Date;
  not_after: Date;
  path_len_constraint: number | null;
  name_constraints: Record<string, unknown>;
  ocsp_responder_url: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id, owning_issuer_id, parent_ca_id, name, subject, state, cert_pem, key_driver_id, not_before, not_after,
  path_len_constraint, name_constraints, ocsp_responder_url, created_at, updated_at`;
const DNS_DOMAIN = /^\.?[A-Za-z0-9*]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$/;

/**
 * The CA tree of Local CA issuers (certctl's /issuers/{id}/intermediates and /intermediates/{id}). The tree is
 * bounded (CERTCTL_INTERMEDIATE_MAX_DEPTH levels, CERTCTL_INTERMEDIATE_MAX_PER_ISSUER active CAs per issuer) and
 * each CA's key and certificate are made in a worker thread, never on the api's event loop.
 */
@Injectable()
export class IntermediatesService implements OnModuleDestroy {
  private readonly signer = new CaSigningWorker();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly connectors: IssuerConnectors,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleDestroy(): Promise<void> {
    return this.signer.close();
  }

  async create(actor: Principal, issuerId: string, body: CreateIntermediateDto): Promise<IntermediateCa> {
    const [issuer] = await this.dataSource.query<Array<{ type: string }>>('SELECT type FROM issuers WHERE id = $1', [issuerId]);
    if (!issuer) throw ApiError.notFound('issuer', issuerId);
    if (!CRL_CAPABLE_ISSUER_TYPES.includes(issuer.type)) throw ApiError.invalidField('issuer_id', `${issuer.type} issuers have no CA tree here; only Local CA (GenericCA) issuers do`);
    if (body.ocsp_responder_url !== undefined && !isHttpUrl(body.ocsp_responder_url)) {
      throw ApiError.invalidField('ocsp_responder_url', 'must be an http:// or https:// URL');
    }
    const nameConstraints = parseNameConstraints(body.name_constraints);
    await this.checkDepth(body.parent_ca_id);
    await this.checkCount(this.dataSource.manager, issuerId);
    const { connector } = await this.connectors.forIssuer(issuerId);
    if (!(connector instanceof LocalCaConnector)) throw ApiError.invalidField('issuer_id', 'not a Local CA issuer');
    let created;
    try {
      created = await connector.createIntermediate({
        commonName: body.common_name ?? body.name, parentId: body.parent_ca_id, pathLength: body.path_len_constraint,
        nameConstraints: { permittedDnsDomains: nameConstraints.permitted_dns_domains, excludedDnsDomains: nameConstraints.excluded_dns_domains },
        validityDays: body.validity_days ?? 1825,
      }, (input) => this.signer.sign(input));
    } catch (err) {
      if (err instanceof CaHierarchyError) throw ApiError.invalidField(err.field, err.message);
      if (err instanceof IssuerError) throw ApiError.conflict('ISSUER_UNAVAILABLE', err.message);
      throw err;
    }
    const info = describeCertificate(created.certificatePem);
    const id = newId('intermediateCa');
    try {
      await this.dataSource.transaction(async (tx) => {
        // Concurrent creates for one issuer take turns here, so together they cannot pass the count.
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('certctl-intermediates:' || $1))`, [issuerId]);
        await this.checkCount(tx, issuerId);
        await tx.query(
          `INSERT INTO intermediate_cas (id, owning_issuer_id, parent_ca_id, name, subject, cert_pem, serial_number, encrypted_private_key,
                                         not_before, not_after, path_len_constraint, name_constraints, ocsp_responder_url)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [id, issuerId, body.parent_ca_id ?? null, body.name, info.subject, created.certificatePem, info.serialNumber, created.encryptedPrivateKey,
            info.notBefore, info.notAfter, created.pathLength ?? null, nameConstraints, body.ocsp_responder_url ?? null],
        );
        await this.audit.record({
          actor, action: body.parent_ca_id ? 'intermediate_ca_child_created' : 'intermediate_ca_root_created', resource_type: 'intermediate_ca', resource_id: id,
          event_category: 'config', details: { issuer_id: issuerId, parent_ca_id: body.parent_ca_id ?? null, name: body.name, path_len_constraint: created.pathLength ?? null },
        }, tx);
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw ApiError.conflict('INTERMEDIATE_CA_EXISTS', `issuer ${issuerId} already has an intermediate named ${body.name}`);
      throw err;
    }
    return this.get(id);
  }

  /** 400 when a CA under `parentId` (the root when absent) would lie deeper than CERTCTL_INTERMEDIATE_MAX_DEPTH. */
  private async checkDepth(parentId: string | undefined): Promise<void> {
    const max = this.config.pki.intermediateMaxDepth;
    if (parentId === undefined) return;
    const [row] = await this.dataSource.query<Array<{ depth: number | null }>>(
      `WITH RECURSIVE chain AS (
         SELECT id, parent_ca_id, 1 AS depth FROM intermediate_cas WHERE id = $1
         UNION ALL
         SELECT i.id, i.parent_ca_id, c.depth + 1 FROM intermediate_cas i JOIN chain c ON i.id = c.parent_ca_id WHERE c.depth <= $2
       ) SELECT max(depth)::int AS depth FROM chain`,
      [parentId, max],
    );
    const depth = (row?.depth ?? 0) + 1;
    if (depth > max) {
      throw ApiError.invalidField('parent_ca_id', `a CA under ${parentId} would be ${depth} levels below the root; at most ${max} are allowed (CERTCTL_INTERMEDIATE_MAX_DEPTH)`);
    }
  }

  /** 409 when the issuer already holds CERTCTL_INTERMEDIATE_MAX_PER_ISSUER active intermediate CAs. */
  private async checkCount(db: EntityManager, issuerId: string): Promise<void> {
    const max = this.config.pki.intermediateMaxPerIssuer;
    const [{ n }] = await db.query<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM intermediate_cas WHERE owning_issuer_id = $1 AND state <> 'retired'`, [issuerId]);
    if (n >= max) {
      throw ApiError.conflict('INTERMEDIATE_CA_LIMIT', `issuer ${issuerId} already has ${n} active intermediate CAs; at most ${max} are allowed (CERTCTL_INTERMEDIATE_MAX_PER_ISSUER); retire one first`);
    }
  }

  async list(issuerId: string): Promise<{ data: IntermediateCa[]; total: number }> {
    const [issuer] = await this.dataSource.query('SELECT 1 FROM issuers WHERE id = $1', [issuerId]);
    if (!issuer) throw ApiError.notFound('issuer', issuerId);
    const data = await this.dataSource.query<IntermediateCa[]>(`SELECT ${COLUMNS} FROM intermediate_cas WHERE owning_issuer_id = $1 ORDER BY created_at, id`, [issuerId]);
    return { data, total: data.length };
  }

  async get(id: string): Promise<IntermediateCa> {
    const [row] = await this.dataSource.query<IntermediateCa[]>(`SELECT ${COLUMNS} FROM intermediate_cas WHERE id = $1`, [id]);
    if (!row) throw ApiError.notFound('intermediate_ca', id);
    return row;
  }

  /** Retired CAs sign nothing more; 409 when already retired or while an active child remains. */
  async retire(actor: Principal, id: string): Promise<IntermediateCa> {
    await this.dataSource.transaction(async (tx) => {
      const [row] = await tx.query<Array<{ state: string; owning_issuer_id: string }>>('SELECT state, owning_issuer_id FROM intermediate_cas WHERE id = $1 FOR UPDATE', [id]);
      if (!row) throw ApiError.notFound('intermediate_ca', id);
      if (row.state === 'retired') throw ApiError.conflict('INTERMEDIATE_CA_RETIRED', `intermediate CA ${id} is already retired`);
      const [child] = await tx.query(`SELECT id FROM intermediate_cas WHERE parent_ca_id = $1 AND state <> 'retired' LIMIT 1`, [id]);
      if (child) throw ApiError.conflict('INTERMEDIATE_CA_HAS_CHILDREN', `intermediate CA ${id} still has active child ${child.id}`);
      await tx.query(`UPDATE intermediate_cas SET state = 'retired', updated_at = now() WHERE id = $1`, [id]);
      await this.audit.record({ actor, action: 'intermediate_ca_retired', resource_type: 'intermediate_ca', resource_id: id, event_category: 'config', details: { issuer_id: row.owning_issuer_id } }, tx);
    });
    return this.get(id);
  }
}

/** Only web URLs end up in a CA's record: no javascript:, data:, file: or other schemes a console or client might follow. */
function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function parseNameConstraints(value: Record<string, unknown> | undefined): { permitted_dns_domains?: string[]; excluded_dns_domains?: string[] } {
  if (!value) return {};
  const out: { permitted_dns_domains?: string[]; excluded_dns_domains?: string[] } = {};
  for (const [key, list] of Object.entries(value)) {
    if (key !== 'permitted_dns_domains' && key !== 'excluded_dns_domains') throw ApiError.invalidField(`name_constraints.${key}`, 'unknown field');
    if (!Array.isArray(list) || list.length > 50 || !list.every((d) => typeof d === 'string' && DNS_DOMAIN.test(d))) {
      throw ApiError.invalidField(`name_constraints.${key}`, 'must be a list of up to 50 DNS domains');
    }
    out[key] = list as string[];
  }
  return out;
}
