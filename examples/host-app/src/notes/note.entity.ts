import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** A note of one of the host's users. Its text is also indexed in Switchyard (document id = note id). */
@Entity('notes')
@Index('idx_notes_user_id', ['userId'])
export class Note {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 64 })
  userId: string;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  @Column({ type: 'text' })
  body: string;

  /** How many chunks Switchyard stored for it. */
  @Column({ type: 'integer', default: 0 })
  chunks: number;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;
}
