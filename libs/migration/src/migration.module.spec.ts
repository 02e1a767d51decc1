import { Test } from '@nestjs/testing';
import { loadConfig, SwitchyardConfigModule } from '@switchyard/core';
import { RelationalDbModule } from '@switchyard/relational-db';
import { VectorDbModule } from '@switchyard/vector-db';
import { freshDir } from '../../../test/support/services';
import { MigrationModule } from './migration.module';
import { MigrationService } from './migration.service';

describe('MigrationModule', () => {
  it('provides the MigrationService over the app providers and the MIGRATION_* config', async () => {
    const dir = freshDir('sy-mig-module-');
    const config = loadConfig({
      RELATIONAL_DB_DATABASE: dir.file('app.sqlite'),
      VECTOR_DB_DIMENSIONS: '8',
      MIGRATION_DATA_DIR: dir.file('data'),
      MIGRATION_OLD_RELATIONAL_DB_PROVIDER: 'sqlite',
      MIGRATION_OLD_RELATIONAL_DB_DATABASE: dir.file('missing.sqlite'),
    });
    const app = await Test.createTestingModule({
      imports: [
        SwitchyardConfigModule.forRoot(config),
        RelationalDbModule.forRoot({ relational: config.relational }),
        VectorDbModule.forRoot({ vector: config.vector, model: 'm' }),
        MigrationModule.forRoot(),
      ],
    }).compile();
    try {
      const svc = app.get(MigrationService);
      expect(await svc.list()).toEqual([]);
      await expect(svc.start({ kind: 'RELATIONAL', source: 'nope' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('configured: old') });
      await expect(svc.start({ kind: 'RELATIONAL', source: 'old' })).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('missing.sqlite does not exist') });
      await expect(svc.start({ kind: 'REINDEX' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('embeddings') });
      expect((await svc.list()).map((j) => [j.kind, j.status, j.errorCode])).toEqual([
        ['REINDEX', 'FAILED', 'BAD_INPUT'],
        ['RELATIONAL', 'FAILED', 'PROVIDER_UNAVAILABLE'],
      ]);
    } finally {
      await app.close();
      dir.remove();
    }
  });
});
