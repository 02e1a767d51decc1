import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * The host app's own users table. Switchyard's own tables are prefixed (`switchyard_users`, ...), so the
 * host may call its table `users` in the same database.
 */
@Entity('users')
export class User {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Column({ type: 'varchar', length: 320, unique: true })
  email: string;

  @Column({ name: 'display_name', type: 'varchar', length: 200 })
  displayName: string;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;
}
