import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as oidc from 'openid-client';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig, checkOutboundUrl, OutboundUrlError } from '@certctl/config';
import { newId } from '@certctl/db';
import { decryptSecret, encryptSecret } from '@certctl/pki';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { RbacService } from '../../common/auth/rbac.service';
import { changedRows, SessionsService } from '../../common/auth/sessions.service';
import { ApiError } from '../../common/http/api-error';
import type { CreateGroupRoleMappingDto, CreateOidcProviderDto, UpdateOidcProviderDto } from './dto/identity.dto';
import { outboundFetch } from './outbound-fetch';

/** An oidc_providers row as the API shows it: never the secret, only whether one is set. */
export interface OidcProviderView {
  id: string;
  name: string;
  issuer_url: string;
  client_id: string;
  has_client_secret: boolean;
  redirect_uri: string;
  post_logout_redirect_uri?: string;
  scopes: string[];
  groups_claim_path: string;
  fetch_userinfo: boolean;
  allowed_email_domains: string[];
  iat_window_seconds: number;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

interface ProviderRow extends Omit<OidcProviderView, 'has_client_secret'> {
  client_secret_encrypted: Buffer | null;
}

const COLUMNS = `id, name, issuer_url, client_id, client_secret_encrypted, redirect_uri, post_logout_redirect_uri, scopes, groups_claim_path,
  fetch_userinfo, allowed_email_domains, iat_window_seconds, enabled, created_at, updated_at`;

export interface ProviderClient {
  provider: OidcProviderView;
  config: oidc.Configuration;
}

/**
 * OpenID providers: stored with their client secret sealed, discovered through the outbound policy (a 400 at
 * create when the discovery document cannot be read), and kept as openid-client Configurations per process.
 * The provider's JWKS is cached by OidcSignInService (jwks-cache.ts), read again when a token names a key it lacks.
 */
@Injectable()
export class OidcProvidersService {
  private readonly clients = new Map<string, { updatedAt: number; client: Promise<oidc.Configuration> }>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly sessions: SessionsService,
    private readonly rbac: RbacService,
  ) {}

  async list(): Promise<OidcProviderView[]> {
    const rows: ProviderRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM oidc_providers ORDER BY created_at, id`);
    return rows.map(view);
  }

  /** Enabled providers for the sign-in page: id and name only. */
  async signInChoices(): Promise<Array<{ id: string; name: string }>> {
    return this.dataSource.query('SELECT id, name FROM oidc_providers WHERE enabled ORDER BY name, id');
  }

  async get(id: string): Promise<OidcProviderView> {
    return view(await this.row(id));
  }

  async create(actor: Principal, body: CreateOidcProviderDto): Promise<OidcProviderView> {
    this.checkUrls(body);
    // Discovery before the row exists: an unreachable or refused provider is the caller's 400, not a stored mistake.
    await this.discover(body.issuer_url, body.client_id, body.client_secret);
    const id = body.id ?? newId('oidcProvider');
    const sealed = body.client_secret ? this.seal(body.client_secret) : null;
    try {
      await this.dataSource.query(
        `INSERT INTO oidc_providers (id, name, issuer_url, client_id, client_secret_encrypted, redirect_uri, post_logout_redirect_uri, scopes,
           groups_claim_path, fetch_userinfo, allowed_email_domains, iat_window_seconds, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8::text[], ARRAY['openid','email','profile']), COALESCE($9::text, 'groups'), COALESCE($10::boolean, false),
           COALESCE($11::text[], '{}'), COALESCE($12::integer, 300), COALESCE($13::boolean, true))`,
        [id, body.name, body.issuer_url, body.client_id, sealed, body.redirect_uri, body.post_logout_redirect_uri ?? null, body.scopes ?? null,
          body.groups_claim_path ?? null, body.fetch_userinfo ?? null, body.allowed_email_domains ?? null, body.iat_window_seconds ?? null, body.enabled ?? null],
      );
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw ApiError.conflict('DUPLICATE', `an OIDC provider with this id or name already exists`, [{ field: 'name', message: 'already exists' }]);
      throw err;
    }
    await this.audit.record({ actor, action: 'oidc_provider_created', resource_type: 'oidc_provider', resource_id: id, event_category: 'auth',
      details: { name: body.name, issuer_url: body.issuer_url } });
    return this.get(id);
  }

  async update(actor: Principal, id: string, body: UpdateOidcProviderDto): Promise<OidcProviderView> {
    const current = await this.row(id);
    this.checkUrls({ redirect_uri: body.redirect_uri ?? current.redirect_uri, post_logout_redirect_uri: body.post_logout_redirect_uri });
    if (body.client_id !== undefined || body.client_secret !== undefined) await this.discover(current.issuer_url, body.client_id ?? current.client_id, body.client_secret);
    const sets: string[] = [];
    const params: unknown[] = [id];
    const set = (column: string, value: unknown) => { params.push(value); sets.push(`${column} = $${params.length}`); };
    for (const key of ['name', 'client_id', 'redirect_uri', 'post_logout_redirect_uri', 'scopes', 'groups_claim_path', 'fetch_userinfo', 'allowed_email_domains',
      'iat_window_seconds', 'enabled'] as const) {
      if (body[key] !== undefined) set(key, body[key]);
    }
    if (body.client_secret !== undefined) set('client_secret_encrypted', this.seal(body.client_secret));
    if (sets.length) await this.dataSource.query(`UPDATE oidc_providers SET ${sets.join(', ')}, updated_at = now() WHERE id = $1`, params);
    this.clients.delete(id);
    await this.audit.record({ actor, action: 'oidc_provider_updated', resource_type: 'oidc_provider', resource_id: id, event_category: 'auth',
      details: { fields: Object.keys(body).map((k) => (k === 'client_secret' ? 'client_secret (changed)' : k)) } });
    return this.get(id);
  }

  async remove(actor: Principal, id: string): Promise<void> {
    await this.row(id);
    await this.sessions.revokeWhere('user_id IN (SELECT id FROM users WHERE oidc_provider_id = $1)', [id], 'provider deleted');
    await this.dataSource.query('DELETE FROM oidc_providers WHERE id = $1', [id]);
    this.clients.delete(id);
    await this.audit.record({ actor, action: 'oidc_provider_deleted', resource_type: 'oidc_provider', resource_id: id, event_category: 'auth' });
  }

  /** The provider's openid-client Configuration (discovered once per process and per row version). */
  async client(id: string): Promise<ProviderClient> {
    const row = await this.row(id);
    const provider = view(row);
    const updatedAt = new Date(row.updated_at).getTime();
    let cached = this.clients.get(id);
    if (!cached || cached.updatedAt !== updatedAt) {
      const secret = row.client_secret_encrypted ? this.unseal(row.client_secret_encrypted) : undefined;
      cached = { updatedAt, client: this.configure(row.issuer_url, row.client_id, secret) };
      this.clients.set(id, cached);
      cached.client.catch(() => this.clients.delete(id));
    }
    return { provider, config: await cached.client };
  }

  // ---- group → role mappings

  listMappings(providerId?: string): Promise<GroupRoleMappingView[]> {
    return this.dataSource.query(
      `SELECT ${MAPPING_COLUMNS} FROM group_role_mappings m JOIN roles r ON r.id = m.role_id
        WHERE ($1::text IS NULL OR m.provider_id = $1) ORDER BY m.created_at, m.id`,
      [providerId ?? null],
    );
  }

  /**
   * Maps a provider group to any role (built-in or custom; by `role_id`, or by `role` name as before), globally
   * or within one team/issuer/profile, optionally until `expires_at`. Its users hold it from their next request.
   */
  async createMapping(actor: Principal, body: CreateGroupRoleMappingDto): Promise<GroupRoleMappingView> {
    const exists: unknown[] = await this.dataSource.query('SELECT 1 FROM oidc_providers WHERE id = $1', [body.provider_id]);
    if (!exists.length) throw ApiError.missingReference('provider_id', body.provider_id);
    const roleId = body.role_id ?? await this.roleIdByName(body.role);
    const { scope_type, scope_id } = await this.rbac.checkGrant({ role_id: roleId, scope_type: body.scope_type, scope_id: body.scope_id });
    const id = newId('groupRoleMapping');
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO group_role_mappings (id, provider_id, group_name, role_id, scope_type, scope_id, expires_at, granted_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT ON CONSTRAINT uq_group_role_mappings DO NOTHING RETURNING id`,
      [id, body.provider_id, body.group_name, roleId, scope_type, scope_id, body.expires_at ?? null, actor.actor],
    );
    if (!rows.length) {
      throw ApiError.conflict('DUPLICATE', `group ${body.group_name} is already mapped to ${roleId} in this scope`, [{ field: 'group_name', message: 'already mapped to this role here' }]);
    }
    this.rbac.forgetCachedGrants();
    await this.audit.record({ actor, action: 'group_role_mapping_created', resource_type: 'group_role_mapping', resource_id: id, event_category: 'auth',
      details: { provider_id: body.provider_id, group_name: body.group_name, role_id: roleId, scope_type, scope_id, expires_at: body.expires_at ?? null } });
    const [created] = (await this.dataSource.query(`SELECT ${MAPPING_COLUMNS} FROM group_role_mappings m JOIN roles r ON r.id = m.role_id WHERE m.id = $1`, [id])) as GroupRoleMappingView[];
    return created!;
  }

  /** Removing a mapping takes effect on the next request of every session that held its role through it. */
  async removeMapping(actor: Principal, id: string): Promise<void> {
    const rows = changedRows(await this.dataSource.query('DELETE FROM group_role_mappings WHERE id = $1 RETURNING id', [id]));
    if (!rows.length) throw ApiError.notFound('group role mapping', id);
    this.rbac.forgetCachedGrants();
    await this.audit.record({ actor, action: 'group_role_mapping_deleted', resource_type: 'group_role_mapping', resource_id: id, event_category: 'auth' });
  }

  private async roleIdByName(name: string | undefined): Promise<string> {
    if (!name) throw ApiError.invalidField('role_id', 'a role_id (or a role name in role) is required');
    const rows: Array<{ id: string }> = await this.dataSource.query('SELECT id FROM roles WHERE name = $1', [name]);
    if (!rows[0]) throw ApiError.missingReference('role', name);
    return rows[0].id;
  }

  // ---- internals

  private async row(id: string): Promise<ProviderRow> {
    const rows: ProviderRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM oidc_providers WHERE id = $1`, [id]);
    if (!rows[0]) throw ApiError.notFound('oidc provider', id);
    return rows[0];
  }

  private checkUrls(body: { issuer_url?: string; redirect_uri?: string; post_logout_redirect_uri?: string }): void {
    for (const field of ['redirect_uri', 'post_logout_redirect_uri'] as const) {
      const value = body[field];
      if (value === undefined) continue;
      let url: URL | undefined;
      try { url = new URL(value); } catch { /* refused below */ }
      if (!url || !['http:', 'https:'].includes(url.protocol)) throw ApiError.invalidField(field, 'must be an http(s) URL');
    }
  }

  /** Reads the discovery document under the outbound policy; any failure is a 400 on issuer_url. */
  private async discover(issuerUrl: string, clientId: string, secret: string | undefined): Promise<oidc.Configuration> {
    try {
      const url = checkOutboundUrl(issuerUrl);
      if (url.protocol === 'http:' && !this.config.auth.oidcAllowInsecureHttp) throw new OutboundUrlError('must use https (CERTCTL_OIDC_ALLOW_INSECURE_HTTP is off)');
      return await this.configure(issuerUrl, clientId, secret);
    } catch (err) {
      throw ApiError.invalidField('issuer_url', `discovery failed: ${describeDiscoveryError(err)}`);
    }
  }

  private async configure(issuerUrl: string, clientId: string, secret: string | undefined): Promise<oidc.Configuration> {
    const insecure = new URL(issuerUrl).protocol === 'http:' && this.config.auth.oidcAllowInsecureHttp;
    const config = await oidc.discovery(new URL(issuerUrl), clientId, secret ? { client_secret: secret } : undefined, secret ? oidc.ClientSecretBasic(secret) : oidc.None(), {
      [oidc.customFetch]: outboundFetch as oidc.CustomFetch,
      execute: insecure ? [oidc.allowInsecureRequests] : [],
      timeout: 10,
    });
    // openid-client trusts an id_token from the token endpoint on the strength of TLS alone; OidcSignInService
    // verifies its signature against the provider's JWKS (its own cache, read again on an unknown kid: openid-client's
    // would refuse a rotated key for the first minute after a read).
    return config;
  }

  private seal(secret: string): Buffer {
    const key = this.config.pki.encryptionKey;
    if (!key) throw ApiError.invalidField('client_secret', 'CERTCTL_CONFIG_ENCRYPTION_KEY is not set on the server: client secrets cannot be stored');
    return encryptSecret(secret, key);
  }

  private unseal(box: Buffer): string {
    const key = this.config.pki.encryptionKey;
    if (!key) throw new Error('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the OIDC client secret cannot be read');
    return decryptSecret(box, key).toString('utf8');
  }
}

/** A mapping as the API shows it: the role by id and by name, its scope, its expiry (unset fields omitted). */
export interface GroupRoleMappingView {
  id: string;
  provider_id: string;
  group_name: string;
  role: string;
  role_id: string;
  scope_type: string;
  scope_id: string | null;
  expires_at: Date | null;
  created_at: Date;
}

const MAPPING_COLUMNS = 'm.id, m.provider_id, m.group_name, r.name AS role, m.role_id, m.scope_type, m.scope_id, m.expires_at, m.created_at';

function view(row: ProviderRow): OidcProviderView {
  const { client_secret_encrypted, ...rest } = row;
  return { ...rest, has_client_secret: client_secret_encrypted !== null };
}

/** A short, safe reason: the policy's refusal, the provider's status, or the network error code. */
function describeDiscoveryError(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  if (err instanceof OutboundUrlError) return e.message!;
  const cause = e.cause?.code ?? e.code;
  if (cause && /^E[A-Z]+$/.test(cause)) return `the provider could not be reached (${cause})`;
  return (e.message ?? 'unknown error').slice(0, 200);
}
