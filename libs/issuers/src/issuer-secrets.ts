import { decryptSecret, encryptSecret } from '@certctl/pki';
import { SECRET_CONFIG_FIELDS } from './issuer-config';

export const REDACTED = '********';

/**
 * Splits an issuer config into what may be shown (secrets replaced by "********") and the secrets, encrypted
 * with AES-256-GCM. Throws when there are secrets but no encryption key.
 */
export function sealIssuerConfig(
  type: string,
  config: Record<string, unknown>,
  encryptionKey: string | undefined,
  previous?: { encrypted: Buffer | null },
): { config: Record<string, unknown>; encrypted_config: Buffer | null } {
  const secretFields = SECRET_CONFIG_FIELDS[type] ?? [];
  const kept = previous?.encrypted && encryptionKey ? JSON.parse(decryptSecret(previous.encrypted, encryptionKey).toString()) as Record<string, unknown> : {};
  const secrets: Record<string, unknown> = {};
  const visible: Record<string, unknown> = { ...config };
  for (const field of secretFields) {
    const value = config[field];
    if (value === undefined) continue;
    // "********" sent back unchanged keeps the stored secret.
    secrets[field] = value === REDACTED ? kept[field] : value;
    visible[field] = REDACTED;
  }
  if (!Object.keys(secrets).length) return { config: visible, encrypted_config: null };
  if (!encryptionKey) throw new Error('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: issuer secrets cannot be stored');
  return { config: visible, encrypted_config: encryptSecret(JSON.stringify(secrets), encryptionKey) };
}

/** The full config of an issuer row: the visible fields with the encrypted secrets put back. */
export function openIssuerConfig(
  config: Record<string, unknown>,
  encrypted: Buffer | null,
  encryptionKey: string | undefined,
): Record<string, unknown> {
  if (!encrypted) return { ...config };
  if (!encryptionKey) throw new Error('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: issuer secrets cannot be read');
  return { ...config, ...(JSON.parse(decryptSecret(encrypted, encryptionKey).toString()) as Record<string, unknown>) };
}
