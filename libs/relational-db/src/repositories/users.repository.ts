import { Injectable } from '@nestjs/common';
import { UserEntity } from '../entities';
import { RelationalDb } from '../relational-db.port';

@Injectable()
export class UsersRepository {
  constructor(private readonly db: RelationalDb) {}

  /** Records the caller the first time they are seen (the token is the source of identity). */
  async ensure(id: string, roles: string[] = []): Promise<UserEntity> {
    const repo = this.db.repository(UserEntity);
    const existing = await repo.findOne({ where: { id } });
    if (existing) return existing;
    await repo.createQueryBuilder().insert().into(UserEntity).values({ id, roles, active: true }).orIgnore().execute();
    return (await repo.findOne({ where: { id } })) as UserEntity;
  }

  count(): Promise<number> {
    return this.db.repository(UserEntity).count();
  }
}
