import { checkOutboundUrl } from '@certctl/config';

/**
 * Issuer config checks run at create/update time in the api, so a broken issuer is refused with a 400 naming
 * the field instead of failing later inside an issuance job. Secret fields are kept encrypted at rest and
 * shown redacted.
 */
export const SUPPORTED_ISSUER_TYPES = ['GenericCA', 'local', 'ACME'] as const;

export interface ConfigProblem {
  field: string;
  message: string;
}

/** Config fields that are secrets, per issuer type: stored only encrypted, returned as "********". */
export const SECRET_CONFIG_FIELDS: Record<string, readonly string[]> = {
  ACME: ['eab_hmac_key'],
  GenericCA: [],
  local: [],
};

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

export function issuerConfigProblem(type: string, config: Record<string, unknown>): ConfigProblem | undefined {
  if (!(SUPPORTED_ISSUER_TYPES as readonly string[]).includes(type)) {
    return { field: 'type', message: `${type} is not supported by this server (supported: ${SUPPORTED_ISSUER_TYPES.join(', ')})` };
  }
  if (type === 'ACME') return acmeProblem(config);
  return localCaProblem(config);
}

function localCaProblem(c: Record<string, unknown>): ConfigProblem | undefined {
  if (c.validity_days !== undefined && !(Number.isInteger(c.validity_days) && (c.validity_days as number) >= 1 && (c.validity_days as number) <= 825)) {
    return { field: 'config.validity_days', message: 'must be a whole number of days between 1 and 825' };
  }
  if (c.ca_common_name !== undefined && !isString(c.ca_common_name)) return { field: 'config.ca_common_name', message: 'must be a non-empty string' };
  if (c.crl_url !== undefined && !isUrl(c.crl_url, ['http:', 'https:'])) return { field: 'config.crl_url', message: 'must be an http(s) URL' };
  if (c.ocsp_url !== undefined && !isUrl(c.ocsp_url, ['http:', 'https:'])) return { field: 'config.ocsp_url', message: 'must be an http(s) URL' };
  if (c.signing_intermediate_id !== undefined && !isString(c.signing_intermediate_id)) return { field: 'config.signing_intermediate_id', message: 'must be an intermediate CA id' };
  return undefined;
}

function acmeProblem(c: Record<string, unknown>): ConfigProblem | undefined {
  if (!isUrl(c.directory_url, ['https:', 'http:'])) return { field: 'config.directory_url', message: 'is required: the ACME directory URL' };
  // The server dials it: the outbound policy (no metadata service, no loopback unless allowed) applies.
  const refusal = outboundRefusal(c.directory_url as string);
  if (refusal) return { field: 'config.directory_url', message: refusal };
  if (c.email !== undefined && !(isString(c.email) && /^[^@\s]+@[^@\s]+$/.test(c.email))) return { field: 'config.email', message: 'must be an email address' };
  if ((c.eab_kid === undefined) !== (c.eab_hmac_key === undefined)) {
    return { field: c.eab_kid === undefined ? 'config.eab_kid' : 'config.eab_hmac_key', message: 'eab_kid and eab_hmac_key go together' };
  }
  const challenge = c.challenge_type ?? 'http-01';
  if (challenge !== 'http-01' && challenge !== 'dns-01') return { field: 'config.challenge_type', message: 'must be http-01 or dns-01' };
  if (c.http_port !== undefined && !(Number.isInteger(c.http_port) && (c.http_port as number) > 0 && (c.http_port as number) < 65536)) {
    return { field: 'config.http_port', message: 'must be a port number' };
  }
  if (challenge === 'dns-01') {
    for (const field of ['dns_present_script', 'dns_cleanup_script']) {
      const value = c[field];
      if (!isString(value) || !value.startsWith('/')) return { field: `config.${field}`, message: 'is required for dns-01: an absolute path to an executable' };
    }
  }
  if (c.ca_bundle_pem !== undefined && !(isString(c.ca_bundle_pem) && c.ca_bundle_pem.includes('BEGIN CERTIFICATE'))) {
    return { field: 'config.ca_bundle_pem', message: 'must be PEM certificates trusted for the ACME server\'s HTTPS' };
  }
  if (c.dns_propagation_wait !== undefined && !(Number.isInteger(c.dns_propagation_wait) && (c.dns_propagation_wait as number) >= 0 && (c.dns_propagation_wait as number) <= 3600)) {
    return { field: 'config.dns_propagation_wait', message: 'must be a whole number of seconds between 0 and 3600' };
  }
  if (c.ari_enabled !== undefined && typeof c.ari_enabled !== 'boolean') return { field: 'config.ari_enabled', message: 'must be true or false' };
  if (c.caa_identities !== undefined) {
    const ids = c.caa_identities;
    const domain = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;
    if (!Array.isArray(ids) || ids.length > 20 || !ids.every((id) => isString(id) && id.length <= 253 && domain.test(id))) {
      return { field: 'config.caa_identities', message: 'must be a list of up to 20 issuer domain names (e.g. ["letsencrypt.org"])' };
    }
  }
  if (c.caa_check !== undefined && typeof c.caa_check !== 'boolean') return { field: 'config.caa_check', message: 'must be true or false' };
  return undefined;
}

function outboundRefusal(url: string): string | undefined {
  try {
    checkOutboundUrl(url);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function isUrl(value: unknown, protocols: string[]): boolean {
  if (!isString(value)) return false;
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
