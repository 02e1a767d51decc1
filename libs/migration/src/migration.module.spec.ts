import { Test } from '@nestjs/testing';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { loadConfig, SwitchyardConfigModule } from '@switchyard/core';
import { RelationalDbModule } from '@switchyard/relational-db';
import { VectorDbModule } from '@switchyard/vector-db';
import { freshDir, serviceEnv } from '../../../test/support/services';
import { MigrationModule } from './migration.module';
import { MigrationWorkerModule } from './migration-worker.module';
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

describe('MigrationWorkerModule', () => {
  const boot = async (env: Record<string, string>) => {
    const dir = freshDir('sy-mig-worker-');
    const config = loadConfig({ RELATIONAL_DB_DATABASE: dir.file('app.sqlite'), VECTOR_DB_DIMENSIONS: '8', MIGRATION_DATA_DIR: dir.file('data'), ...env });
    const mod = await Test.createTestingModule({
      imports: [SwitchyardConfigModule.forRoot(config), RelationalDbModule.forRoot({ relational: config.relational }), VectorDbModule.forRoot({ vector: config.vector, model: 'm' }), MigrationModule.forRoot(), MigrationWorkerModule],
    }).compile();
    return { app: mod.createNestApplication(), dir };
  };

  it('runs a BullMQ worker on the partition queue from bootstrap to shutdown (real Redis)', async () => {
    const prefix = `sy-test-w-${Date.now()}`;
    const { app, dir } = await boot({ MIGRATION_QUEUE: 'bullmq', REDIS_URL: serviceEnv('REDIS_URL'), MIGRATION_QUEUE_PREFIX: prefix });
    const redis = new IORedis(serviceEnv('REDIS_URL'), { maxRetriesPerRequest: null });
    const partitions = new Queue('migration-partitions', { connection: redis, prefix });
    try {
      await app.init();
      let workers: unknown[] = [];
      for (let i = 0; i < 50 && !workers.length; i++) {
        workers = await partitions.getWorkers();
        if (!workers.length) await new Promise((r) => setTimeout(r, 100));
      }
      expect(workers.length).toBe(1);
      await app.close();
      expect(await partitions.getWorkers()).toEqual([]);
    } finally {
      await partitions.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      dir.remove();
    }
  });

  it('refuses to start without MIGRATION_QUEUE=bullmq, naming what it needs', async () => {
    const { app, dir } = await boot({});
    try {
      await expect(app.init()).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('MIGRATION_QUEUE=bullmq and REDIS_URL') });
    } finally {
      await app.close().catch(() => undefined);
      dir.remove();
    }
  });
});
