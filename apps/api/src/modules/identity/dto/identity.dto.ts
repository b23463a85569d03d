import { Matches, MinLength } from 'class-validator';
import { GRANT_SCOPE_TYPES } from '@certctl/contracts';
import { BoolField, DateField, EnumField, IdField, IntField, NameField, StringListField, TextField } from '../../../common/http/dto-fields';

/** An OpenID provider an admin configures for console sign-in. The secret is write-only and stored sealed. */
export class CreateOidcProviderDto {
  @IdField({ optional: true }) id?: string;
  @NameField({ description: 'Shown on the console sign-in button: "Sign in with <name>"' }) name: string;
  @TextField({ max: 2048, singleLine: true, description: 'The issuer; discovery reads <issuer_url>/.well-known/openid-configuration' }) issuer_url: string;
  @TextField({ max: 255, singleLine: true }) client_id: string;
  @TextField({ optional: true, max: 1024, singleLine: true, description: 'Write-only; stored encrypted with CERTCTL_CONFIG_ENCRYPTION_KEY' }) client_secret?: string;
  @TextField({ max: 2048, singleLine: true, description: 'This api\'s /auth/oidc/callback as the provider knows it' }) redirect_uri: string;
  @TextField({ optional: true, max: 2048, singleLine: true, description: 'Where the provider sends the browser after RP-initiated logout' }) post_logout_redirect_uri?: string;
  @StringListField({ optional: true, maxItems: 20, max: 100, pattern: /^[\x21\x23-\x5b\x5d-\x7e]+$/ }) scopes?: string[];
  @TextField({ optional: true, max: 255, singleLine: true, description: 'Dotted path of the groups claim in the id_token (or userinfo), e.g. groups or realm_access.roles' }) groups_claim_path?: string;
  @BoolField({ optional: true, description: 'Read the groups from the userinfo endpoint as well as the id_token' }) fetch_userinfo?: boolean;
  @StringListField({ optional: true, maxItems: 100, pattern: /^[a-z0-9.-]+$/, description: 'Lower-case e-mail domains allowed to sign in; empty allows any' }) allowed_email_domains?: string[];
  @IntField(1, 600, { optional: true, description: 'How old an id_token\'s iat may be, in seconds' }) iat_window_seconds?: number;
  @BoolField({ optional: true }) enabled?: boolean;
}

export class UpdateOidcProviderDto {
  @NameField({ optional: true }) name?: string;
  @TextField({ optional: true, max: 255, singleLine: true }) client_id?: string;
  @TextField({ optional: true, max: 1024, singleLine: true }) client_secret?: string;
  @TextField({ optional: true, max: 2048, singleLine: true }) redirect_uri?: string;
  @TextField({ optional: true, max: 2048, singleLine: true }) post_logout_redirect_uri?: string;
  @StringListField({ optional: true, maxItems: 20, max: 100, pattern: /^[\x21\x23-\x5b\x5d-\x7e]+$/ }) scopes?: string[];
  @TextField({ optional: true, max: 255, singleLine: true }) groups_claim_path?: string;
  @BoolField({ optional: true }) fetch_userinfo?: boolean;
  @StringListField({ optional: true, maxItems: 100, pattern: /^[a-z0-9.-]+$/ }) allowed_email_domains?: string[];
  @IntField(1, 600, { optional: true }) iat_window_seconds?: number;
  @BoolField({ optional: true }) enabled?: boolean;
}

export class CreateGroupRoleMappingDto {
  @TextField({ max: 255 }) provider_id: string;
  @TextField({ max: 255, singleLine: true, description: 'A group name as the provider puts it in the groups claim' }) group_name: string;
  @IdField({ optional: true, description: 'The role to grant (built-in r-… or custom)' }) role_id?: string;
  @TextField({ optional: true, max: 255, singleLine: true, description: 'The role by name, instead of role_id (admin, operator, viewer, …)' }) role?: string;
  @EnumField(GRANT_SCOPE_TYPES, { optional: true, description: 'Defaults to global' }) scope_type?: string;
  @IdField({ optional: true, description: 'The team, issuer or profile id; omitted for global' }) scope_id?: string;
  @DateField({ optional: true, future: true }) expires_at?: Date;
}

export class CreateBreakglassCredentialDto {
  @TextField({ max: 64, singleLine: true, description: 'Letters, digits, ".", "_" and "-"' }) @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: 'username must be 1-64 letters, digits, ".", "_" or "-"' }) username: string;
  @TextField({ max: 1024, description: 'At least 16 characters; stored as an scrypt hash' }) @MinLength(16, { message: 'password must be at least 16 characters' }) password: string;
}

export class BreakglassLoginDto {
  @TextField({ max: 64 }) username: string;
  @TextField({ max: 1024 }) password: string;
}
