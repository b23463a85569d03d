import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** One permission of the catalogue (seeded from @certctl/contracts PERMISSION_CATALOGUE, kept in step at boot). */
@Entity('permissions')
export class PermissionEntity {
  @PrimaryColumn('text') name: string;
  @Column('text', { default: '' }) description: string;
}

/** A named set of permissions: one of the seven built-ins (`r-admin` …, not editable) or a custom role. */
@Entity('roles')
export class RoleEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text', { default: '' }) description: string;
  @Column('boolean', { default: false }) built_in: boolean;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}

@Entity('role_permissions')
export class RolePermissionEntity {
  @PrimaryColumn('text') role_id: string;
  @PrimaryColumn('text') permission: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}

/** A role granted to an API key, a user or a group, everywhere or within one team/issuer/profile, maybe until a time. */
@Entity('actor_roles')
export class ActorRoleEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') actor_type: 'User' | 'APIKey' | 'Group';
  @Column('text') actor_id: string;
  @Column('text') role_id: string;
  @Column('text', { default: 'global' }) scope_type: 'global' | 'team' | 'issuer' | 'profile';
  @Column('text', { nullable: true }) scope_id: string | null;
  @Column('timestamptz', { nullable: true }) expires_at: Date | null;
  @Column('text', { default: '' }) granted_by: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
