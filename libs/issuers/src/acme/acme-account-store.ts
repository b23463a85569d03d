import { DataSource } from 'typeorm';

export interface StoredAcmeAccount {
  directory_url: string;
  encrypted_account_key: Buffer;
  account_url: string | null;
}

/** The ACME account of each issuer (table acme_issuer_accounts), its key encrypted. */
export class AcmeAccountStore {
  constructor(private readonly dataSource: DataSource) {}

  async load(issuerId: string): Promise<StoredAcmeAccount | undefined> {
    const rows: StoredAcmeAccount[] = await this.dataSource.query(
      'SELECT directory_url, encrypted_account_key, account_url FROM acme_issuer_accounts WHERE issuer_id = $1',
      [issuerId],
    );
    return rows[0];
  }

  /**
   * Keeps this key unless the issuer already has one for the same directory (another process won the race);
   * a key for another directory is replaced. Returns the key that is kept, so every process registers the same one.
   */
  async saveKeyIfAbsent(issuerId: string, directoryUrl: string, encryptedKey: Buffer): Promise<StoredAcmeAccount> {
    await this.dataSource.query(
      `INSERT INTO acme_issuer_accounts (issuer_id, directory_url, encrypted_account_key)
       VALUES ($1, $2, $3)
       ON CONFLICT (issuer_id) DO UPDATE
         SET directory_url = EXCLUDED.directory_url, encrypted_account_key = EXCLUDED.encrypted_account_key,
             account_url = NULL, updated_at = now()
         WHERE acme_issuer_accounts.directory_url <> EXCLUDED.directory_url`,
      [issuerId, directoryUrl, encryptedKey],
    );
    return (await this.load(issuerId))!;
  }

  async saveAccountUrl(issuerId: string, directoryUrl: string, accountUrl: string): Promise<void> {
    await this.dataSource.query(
      'UPDATE acme_issuer_accounts SET account_url = $3, updated_at = now() WHERE issuer_id = $1 AND directory_url = $2',
      [issuerId, directoryUrl, accountUrl],
    );
  }
}
