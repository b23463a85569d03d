import { decryptSecret, encryptSecret } from '@certctl/pki';

export const REDACTED = '********';

/** Config fields that are secrets, per target type: stored encrypted, shown as "********". */
export const SECRET_TARGET_FIELDS: Record<string, readonly string[]> = {
  SSH: ['password', 'private_key', 'passphrase'],
};

/**
 * Splits a target config into what may be shown (secrets replaced by "********") and the secrets, encrypted with
 * AES-256-GCM. "********" sent back keeps the stored value. Throws when there are secrets but no encryption key.
 */
export function sealTargetConfig(
  type: string, config: Record<string, unknown>, encryptionKey: string | undefined, previous: Buffer | null,
): { config: Record<string, unknown>; encrypted_config: Buffer | null } {
  const kept = previous && encryptionKey ? (JSON.parse(decryptSecret(previous, encryptionKey).toString()) as Record<string, unknown>) : {};
  const secrets: Record<string, unknown> = {};
  const visible: Record<string, unknown> = { ...config };
  for (const field of SECRET_TARGET_FIELDS[type] ?? []) {
    const value = config[field];
    if (value === undefined || value === null || value === '') continue;
    secrets[field] = value === REDACTED ? kept[field] : value;
    visible[field] = REDACTED;
  }
  if (!Object.keys(secrets).length) return { config: visible, encrypted_config: null };
  if (!encryptionKey) throw new Error('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: target secrets cannot be stored');
  return { config: visible, encrypted_config: encryptSecret(JSON.stringify(secrets), encryptionKey) };
}

/** The full config of a target row: the visible fields with the decrypted secrets put back. */
export function openTargetConfig(config: Record<string, unknown>, encrypted: Buffer | null, encryptionKey: string | undefined): Record<string, unknown> {
  if (!encrypted) return { ...config };
  if (!encryptionKey) throw new Error('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: target secrets cannot be read');
  return { ...config, ...(JSON.parse(decryptSecret(encrypted, encryptionKey).toString()) as Record<string, unknown>) };
}
