import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { observeTelemetry } from '@switchyard/core';
import { MigrationService } from '@switchyard/migration';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The app's Prometheus metrics (prom-client), one registry per app: process metrics, GraphQL operations,
 * provider calls and knowledge operations (from the libraries' telemetry), and the migration jobs that
 * run now (read from the job store when scraped).
 */
@Injectable()
export class Metrics implements OnModuleDestroy {
  readonly registry = new Registry();
  readonly graphql = new Histogram({
    name: 'switchyard_graphql_operation_duration_seconds',
    help: 'GraphQL operations by name, type and outcome (ok, or the first error code).',
    labelNames: ['operation', 'type', 'outcome'],
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly providerCalls = new Histogram({
    name: 'switchyard_provider_call_duration_seconds',
    help: 'Calls to the vector store, the embeddings model and the LLM, by port, provider, operation and outcome.',
    labelNames: ['port', 'provider', 'op', 'outcome'],
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly providerErrors = new Counter({
    name: 'switchyard_provider_errors_total',
    help: 'Failed provider calls by port, provider and error code.',
    labelNames: ['port', 'provider', 'code'],
    registers: [this.registry],
  });
  private readonly knowledge = new Counter({
    name: 'switchyard_knowledge_operations_total',
    help: 'Index, delete, search and answer operations by outcome.',
    labelNames: ['op', 'outcome'],
    registers: [this.registry],
  });
  private readonly stop: () => void;

  constructor(migrations: MigrationService) {
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
    this.stop = observeTelemetry((e) => {
      const outcome = e.error ?? 'ok';
      if (e.kind === 'knowledge') {
        this.knowledge.inc({ op: e.op, outcome });
        return;
      }
      this.providerCalls.observe({ port: e.port, provider: e.provider, op: e.op, outcome }, e.seconds);
      if (e.error) this.providerErrors.inc({ port: e.port, provider: e.provider, code: e.error });
    });
    const jobs = async () => (await migrations.list(20)).filter((j) => j.status === 'RUNNING');
    const gauge = (name: string, help: string, value: (p: NonNullable<Awaited<ReturnType<typeof jobs>>[number]['progress']>) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['job', 'kind', 'phase'],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const j of await jobs().catch(() => [])) {
            const v = j.progress ? value(j.progress) : null;
            if (v !== null) this.set({ job: j.id, kind: j.kind, phase: j.progress?.phase ?? 'starting' }, v);
          }
        },
      });
    gauge('switchyard_migration_rows_done', 'Rows (records) a running migration job has copied.', (p) => p.done);
    gauge('switchyard_migration_rows_total', 'Rows (records) a running migration job will copy.', (p) => p.total);
    gauge('switchyard_migration_rows_per_second', 'The copy rate of a running migration job.', (p) => p.ratePerSecond);
    gauge('switchyard_migration_live_backlog', 'Changes a live migration has still to catch up on (its lag).', (p) => p.live?.backlog ?? null);
  }

  onModuleDestroy(): void {
    this.stop();
  }
}
