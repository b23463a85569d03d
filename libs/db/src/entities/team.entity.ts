import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Property names are certctl's JSON and column names (snake_case), so rows serialise as its wire format. */
@Entity('teams')
export class TeamEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text', { default: '' }) description: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
