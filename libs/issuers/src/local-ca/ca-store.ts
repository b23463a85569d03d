import { DataSource } from 'typeorm';

export interface StoredAuthority {
  certificate_pem: string;
  chain_pem: string;
  encrypted_private_key: Buffer;
}

/** Where a Local CA keeps its generated root: one row per issuer, private key encrypted. */
export class CaStore {
  constructor(private readonly dataSource: DataSource) {}

  async load(issuerId: string): Promise<StoredAuthority | undefined> {
    const rows: StoredAuthority[] = await this.dataSource.query(
      'SELECT certificate_pem, chain_pem, encrypted_private_key FROM issuer_authorities WHERE issuer_id = $1',
      [issuerId],
    );
    return rows[0];
  }

  /** Stores the authority unless another process stored one first; returns the one that is kept. */
  async saveIfAbsent(issuerId: string, authority: StoredAuthority): Promise<StoredAuthority> {
    await this.dataSource.query(
      `INSERT INTO issuer_authorities (issuer_id, certificate_pem, chain_pem, encrypted_private_key)
       VALUES ($1, $2, $3, $4) ON CONFLICT (issuer_id) DO NOTHING`,
      [issuerId, authority.certificate_pem, authority.chain_pem, authority.encrypted_private_key],
    );
    return (await this.load(issuerId))!;
  }
}
