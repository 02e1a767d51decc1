import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MigrationService } from '@switchyard/migration';
import { Metrics } from './metrics';

const DASHBOARD = path.resolve(__dirname, '../../../../docs/grafana/switchyard-dashboard.json');

interface Panel { title: string; datasource: { uid: string }; targets: { expr: string; datasource: { uid: string } }[] }

/** docs/grafana/switchyard-dashboard.json queries only what the app's registry exports, through the templated data source. */
describe('the Grafana dashboard in docs/', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[]; __inputs: { name: string }[] };
  // The registry's names, without scraping a job store: its job gauges read `list()` only when collected.
  const metrics = new Metrics({ list: async () => [] } as unknown as MigrationService);
  afterAll(() => metrics.onModuleDestroy());

  it('every series a panel queries is a metric the app exports (histograms by their _bucket/_count/_sum series)', async () => {
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\bswitchyard_[a-z0-9_]+/g) ?? []));
    expect(used.length).toBeGreaterThan(10);
    const missing = used.filter((name) => !exported.has(name) && !exported.has(name.replace(/_(bucket|count|sum)$/, '')));
    expect(missing).toEqual([]);
    // and each migration gauge the app has is on the dashboard
    for (const name of [...exported].filter((n) => n.startsWith('switchyard_migration_'))) expect(used).toContain(name);
  });

  it('every panel and query uses the data source chosen at import (${DS_PROMETHEUS})', () => {
    expect(dashboard.__inputs.map((i) => i.name)).toEqual(['DS_PROMETHEUS']);
    for (const p of dashboard.panels) {
      expect(p.datasource.uid).toBe('${DS_PROMETHEUS}');
      for (const t of p.targets) expect(t.datasource.uid).toBe('${DS_PROMETHEUS}');
    }
  });
});
