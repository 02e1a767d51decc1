import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { createRelationalDb } from './relational-db.factory';
import { RELATIONAL_DB_OPTIONS, RelationalDbConfigurableModule, RelationalDbModuleOptions } from './relational-db.module-definition';
import { RelationalDb } from './relational-db.port';
import { DocumentsRepository } from './repositories/documents.repository';
import { UsersRepository } from './repositories/users.repository';

/**
 * `RelationalDbModule.forRoot({ relational })` / `forRootAsync({ useFactory })`: provides the RelationalDb
 * port (connected, schema migrated) and the repositories. Global by default.
 */
@Module({
  providers: [
    {
      provide: RelationalDb,
      inject: [RELATIONAL_DB_OPTIONS],
      useFactory: async (options: RelationalDbModuleOptions) => {
        const db = createRelationalDb(options.relational);
        await db.init();
        return db;
      },
    },
    DocumentsRepository,
    UsersRepository,
  ],
  exports: [RelationalDb, DocumentsRepository, UsersRepository],
})
export class RelationalDbModule extends RelationalDbConfigurableModule implements OnApplicationShutdown {
  constructor(@Inject(RelationalDb) private readonly db: RelationalDb) {
    super();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
