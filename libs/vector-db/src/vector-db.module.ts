import { Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { createVectorDb } from './vector-db.factory';
import { VECTOR_DB_OPTIONS, VectorDbConfigurableModule, VectorDbModuleOptions } from './vector-db.module-definition';
import { VectorDb } from './vector-db.port';

/**
 * `VectorDbModule.forRoot({ vector, model })` / `forRootAsync(...)`: provides the VectorDb port,
 * connected. A store built with other dimensions or another model is reported loudly at start and
 * refuses writes and queries until it is re-indexed (the app still starts, so it can be re-indexed).
 */
@Module({
  providers: [
    {
      provide: VectorDb,
      inject: [VECTOR_DB_OPTIONS],
      useFactory: async (options: VectorDbModuleOptions) => {
        const db = createVectorDb(options.vector, options.model);
        await db.init();
        const why = db.mismatch();
        if (why) new Logger('VectorDb').error(`${why} Writes and searches are refused until then.`);
        return db;
      },
    },
  ],
  exports: [VectorDb],
})
export class VectorDbModule extends VectorDbConfigurableModule implements OnApplicationShutdown {
  constructor(@Inject(VectorDb) private readonly db: VectorDb) {
    super();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
