import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { newId } from '@certctl/db';
import { encryptSecret } from '@certctl/pki';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { DEFAULT_PER_PAGE, Page } from '../../common/http/pagination';
import type { AcmeAccountQuery, AcmeOrderQuery, CreateEabKeyDto, EabKeyQuery } from './dto/acme-server.dto';

export interface EabKeyView {
  id: string;
  profile_id: string;
  team_id: string | null;
  owner_id: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  account_id: string | null;
  created_by: string;
  created_at: Date;
  /** Derived: active, bound, expired or revoked. */
  status: string;
}

const EAB_COLUMNS = `id, profile_id, team_id, owner_id, expires_at, revoked_at, account_id, created_by, created_at,
  CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN account_id IS NOT NULL THEN 'bound'
       WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' ELSE 'active' END AS status`;

/**
 * The ACME server's administration in the api: EAB keys (the HMAC returned once, kept only encrypted, since the
 * responder must read it back to check a binding), and read-only lists of accounts and orders for the console.
 */
@Injectable()
export class AcmeServerAdminService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly audit: AuditService,
  ) {}

  async createEabKey(actor: Principal, body: CreateEabKeyDto): Promise<EabKeyView & { hmac_key: string }> {
    const secret = this.config.pki.encryptionKey;
    if (!secret) throw ApiError.invalidField('profile_id', 'EAB keys need CERTCTL_CONFIG_ENCRYPTION_KEY to be stored encrypted');
    const [profile] = await this.db.query(`SELECT acme_issuer_id FROM certificate_profiles WHERE id = $1`, [body.profile_id]);
    if (!profile) throw ApiError.missingReference('profile_id', body.profile_id);
    if (!profile.acme_issuer_id) throw ApiError.invalidField('profile_id', 'the profile is not served over ACME (set its acme_issuer_id)');
    const [owner] = await this.db.query(`SELECT team_id FROM owners WHERE id = $1`, [body.owner_id]);
    if (!owner) throw ApiError.missingReference('owner_id', body.owner_id);
    const teamId = body.team_id ?? owner.team_id ?? null;
    if (body.team_id && !(await this.db.query(`SELECT 1 FROM teams WHERE id = $1`, [body.team_id])).length) throw ApiError.missingReference('team_id', body.team_id);
    // 32 random bytes, base64url: what RFC 8555 clients (certbot --eab-hmac-key, lego --eab.hmac) take.
    const hmacKey = randomBytes(32).toString('base64url');
    const id = newId('acmeEabKey');
    const view = await this.db.transaction(async (tx) => {
      const [row]: EabKeyView[] = await tx.query(
        `INSERT INTO acme_eab_keys (id, profile_id, team_id, owner_id, encrypted_hmac, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${EAB_COLUMNS}`,
        [id, body.profile_id, teamId, body.owner_id, encryptSecret(hmacKey, secret), body.expires_at ?? null, actor.actor],
      );
      await this.audit.record({ actor, action: 'acme_eab_key_created', resource_type: 'acme_eab_key', resource_id: id, details: { profile_id: body.profile_id, owner_id: body.owner_id, team_id: teamId } }, tx);
      return row!;
    });
    return { ...view, hmac_key: hmacKey };
  }

  async listEabKeys(q: EabKeyQuery): Promise<Page<EabKeyView>> {
    return this.page(`SELECT ${EAB_COLUMNS} FROM acme_eab_keys`, q.profile_id ? { profile_id: q.profile_id } : {}, q);
  }

  async revokeEabKey(actor: Principal, id: string): Promise<EabKeyView> {
    return this.db.transaction(async (tx) => {
      const [existing] = await tx.query(`SELECT revoked_at FROM acme_eab_keys WHERE id = $1 FOR UPDATE`, [id]);
      if (!existing) throw ApiError.notFound('acme_eab_key', id);
      if (existing.revoked_at) throw ApiError.conflict('EAB_KEY_ALREADY_REVOKED', `EAB key ${id} is already revoked`);
      const [[row]]: [[EabKeyView]] = await tx.query(`UPDATE acme_eab_keys SET revoked_at = now() WHERE id = $1 RETURNING ${EAB_COLUMNS}`, [id]);
      await this.audit.record({ actor, action: 'acme_eab_key_revoked', resource_type: 'acme_eab_key', resource_id: id }, tx);
      return row;
    });
  }

  listAccounts(q: AcmeAccountQuery): Promise<Page<Record<string, unknown>>> {
    return this.page(
      `SELECT id, profile_id, jwk_thumbprint, contact, status, eab_key_id, team_id, owner_id, created_at, updated_at FROM acme_accounts`,
      { ...(q.profile_id ? { profile_id: q.profile_id } : {}), ...(q.status ? { status: q.status } : {}) }, q,
    );
  }

  listOrders(q: AcmeOrderQuery): Promise<Page<Record<string, unknown>>> {
    return this.page(
      `SELECT o.id, o.account_id, o.profile_id, o.status, o.identifiers, o.expires_at, o.certificate_id, o.job_id, o.certificate_version_id, o.replaces, o.error,
              o.created_at, o.updated_at,
              (SELECT json_agg(json_build_object('id', a.id, 'identifier', a.identifier, 'status', a.status, 'wildcard', a.wildcard,
                        'challenges', (SELECT coalesce(json_agg(json_build_object('id', c.id, 'type', c.type, 'status', c.status, 'error', c.error,
                                                                                  'validated_at', c.validated_at) ORDER BY c.type), '[]')
                                         FROM acme_challenges c WHERE c.authorization_id = a.id)) ORDER BY a.id)
                 FROM acme_authorizations a WHERE a.order_id = o.id) AS authorizations
         FROM acme_orders o`,
      { ...(q.account_id ? { account_id: q.account_id } : {}), ...(q.profile_id ? { profile_id: q.profile_id } : {}), ...(q.status ? { status: q.status } : {}) }, q,
    );
  }

  /** Newest first, certctl's page envelope; filters are equality on whitelisted columns. */
  private async page<T>(select: string, filters: Record<string, string>, q: { page?: number; per_page?: number }): Promise<Page<T>> {
    const page = q.page ?? 1;
    const perPage = q.per_page ?? DEFAULT_PER_PAGE;
    const names = Object.keys(filters);
    const values = Object.values(filters);
    const alias = select.includes(' o.') ? 'o.' : '';
    const qualified = names.length ? ` WHERE ${names.map((n, i) => `${alias}${n} = $${i + 1}`).join(' AND ')}` : '';
    const data: T[] = await this.db.query(`${select}${qualified} ORDER BY ${alias}created_at DESC, ${alias}id DESC LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`, values);
    const [{ total }] = await this.db.query(`SELECT count(*)::int AS total FROM (${select}${qualified}) t`, values);
    return { data, total, page, per_page: perPage };
  }
}
