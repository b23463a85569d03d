import { CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('certificate_target_mappings')
export class CertificateTargetMappingEntity {
  @PrimaryColumn('text') certificate_id: string;
  @PrimaryColumn('text') target_id: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
