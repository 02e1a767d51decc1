import { DynamicModule, Inject, Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { createRelationalDb } from './relational-db.factory';
import { RELATIONAL_DB_OPTIONS, RelationalDbConfigurableModule, RelationalDbModuleOptions } from './relational-db.module-definition';
import { EntityClassOrSchema, RelationalDb } from './relational-db.port';
import { DocumentsRepository } from './repositories/documents.repository';
import { UsersRepository } from './repositories/users.repository';
import { VectorFreezeRepository } from './repositories/vector-freeze.repository';

/** Entities registered by forFeature(), for `autoLoadEntities` (filled while modules are declared, read when the DataSource is built). */
const FEATURE_ENTITIES = new Set<EntityClassOrSchema>();

/** The injection token of a host entity's TypeORM Repository (RelationalDbModule.forFeature). */
export function getRepositoryToken(entity: EntityClassOrSchema): string {
  const name = typeof entity === 'function' ? entity.name : entity.options.name;
  return `SwitchyardRepository<${name}>`;
}

/** Injects the Repository of a host entity registered with RelationalDbModule.forFeature([entity]). */
export const InjectRepository = (entity: EntityClassOrSchema): ParameterDecorator => Inject(getRepositoryToken(entity));

@Module({})
class RelationalDbFeatureModule {}

/**
 * `RelationalDbModule.forRoot({ relational, entities })` / `forRootAsync({ useFactory })`: provides the
 * RelationalDb port (connected, schema migrated) and the repositories. Global by default.
 * `RelationalDbModule.forFeature([Entity])`: Repository<Entity> providers of the host's entities.
 */
@Module({
  providers: [
    {
      provide: RelationalDb,
      inject: [RELATIONAL_DB_OPTIONS],
      useFactory: async (options: RelationalDbModuleOptions) => {
        const entities = [...(options.entities ?? []), ...(options.autoLoadEntities ? FEATURE_ENTITIES : [])];
        const db = createRelationalDb(options.relational, {
          entities: [...new Set(entities)],
          migrations: options.migrations,
          synchronize: options.synchronize,
          tablePrefix: options.tablePrefix,
        });
        await db.init();
        return db;
      },
    },
    DocumentsRepository,
    UsersRepository,
    VectorFreezeRepository,
  ],
  exports: [RelationalDb, DocumentsRepository, UsersRepository, VectorFreezeRepository],
})
export class RelationalDbModule extends RelationalDbConfigurableModule implements OnApplicationShutdown {
  constructor(@Inject(RelationalDb) private readonly db: RelationalDb) {
    super();
  }

  /**
   * Repositories of host entities, injectable with @InjectRepository(Entity) from this package. The
   * entities join the DataSource when the root module sets `autoLoadEntities` (or lists them in `entities`).
   */
  static forFeature(entities: EntityClassOrSchema[]): DynamicModule {
    for (const e of entities) FEATURE_ENTITIES.add(e);
    const providers: Provider[] = entities.map((e) => ({
      provide: getRepositoryToken(e),
      inject: [RelationalDb],
      useFactory: (db: RelationalDb) => db.repository(e as EntityTarget<ObjectLiteral>),
    }));
    return { module: RelationalDbFeatureModule, providers, exports: providers };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
