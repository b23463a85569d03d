import { DataSource } from 'typeorm';

export interface StoredAuthority {
  certificate_pem: string;
  chain_pem: string;
  encrypted_private_key: Buffer;
}

export interface StoredIntermediate {
  id: string;
  owning_issuer_id: string;
  parent_ca_id: string | null;
  state: 'active' | 'retiring' | 'retired';
  cert_pem: string;
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

  /** One intermediate CA of the tree (intermediate_cas), key still encrypted. */
  async loadIntermediate(id: string): Promise<StoredIntermediate | undefined> {
    const rows: StoredIntermediate[] = await this.dataSource.query(
      'SELECT id, owning_issuer_id, parent_ca_id, state, cert_pem, encrypted_private_key FROM intermediate_cas WHERE id = $1',
      [id],
    );
    return rows[0];
  }
}
