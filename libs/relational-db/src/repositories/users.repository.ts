import { Injectable } from '@nestjs/common';
import type { EntityManager, Repository } from 'typeorm';
import { UserEntity } from '../entities';
import { LockScope, RelationalDb } from '../relational-db.port';

@Injectable()
export class UsersRepository {
  /** Set on a copy made by inScope(): statements go through this transaction. */
  private manager: EntityManager | null = null;

  constructor(private readonly db: RelationalDb) {}

  private get repo(): Repository<UserEntity> {
    return this.manager ? this.manager.getRepository(UserEntity) : this.db.repository(UserEntity);
  }

  /** This repository inside a withLock() section's transaction (where it has one: PostgreSQL). */
  inScope(scope: LockScope): UsersRepository {
    const r = new UsersRepository(this.db);
    r.manager = scope.manager;
    return r;
  }

  /** Records the caller the first time they are seen (the token is the source of identity). */
  async ensure(id: string, roles: string[] = []): Promise<UserEntity> {
    const repo = this.repo;
    const existing = await repo.findOne({ where: { id } });
    if (existing) return existing;
    await repo.createQueryBuilder().insert().into(UserEntity).values({ id, roles, active: true }).orIgnore().execute();
    return (await repo.findOne({ where: { id } })) as UserEntity;
  }

  count(): Promise<number> {
    return this.repo.count();
  }
}
