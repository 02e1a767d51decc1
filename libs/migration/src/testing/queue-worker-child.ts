/**
 * A queue worker in its own process (what `switchyard worker` runs): prints `{"ready": pid}` once its
 * BullMQ workers run, then works on partitions until SIGTERM. The queue test SIGKILLs it mid-partition.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register queue-worker-child.ts '<json WorkerConfig>'
 */
import type { MigrationQueueConfig, ProviderProfile } from '@switchyard/core';
import { MigrationService } from '../migration.service';
import { ChildTarget, openChildTarget } from './child-target';

export interface WorkerConfig {
  target: ChildTarget;
  profiles: Record<string, ProviderProfile>;
  dataDir: string;
  queue: MigrationQueueConfig;
}

const say = (m: string) => void process.stderr.write(`${m}\n`);

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as WorkerConfig;
  const { relational, vector, close } = await openChildTarget(cfg.target);
  const svc = new MigrationService({ target: { relational, vector }, profiles: cfg.profiles, dataDir: cfg.dataDir, defaultBatchSize: 500, queue: cfg.queue, logger: { log: () => undefined, warn: say, error: say } });
  const worker = svc.startWorker();
  process.stdout.write(`${JSON.stringify({ ready: process.pid })}\n`);
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await worker.close();
  await svc.close();
  await close();
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
