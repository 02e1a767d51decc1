import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { dashboardQueues } from '@switchyard/migration';
import type { Router } from 'express';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const QUEUES_PATH = '/console/queues';

/**
 * bull-board's page template without what it loads from other hosts (a web font stylesheet on
 * fonts.googleapis.com: the console makes no request off the app; the page falls back to the system font),
 * written to a folder of its own. The console's Content-Security-Policy would block such a request anyway.
 */
function localTemplate(): { dir: string; remove(): void } {
  const ui = path.dirname(require.resolve('@bull-board/ui/package.json'));
  const html = readFileSync(path.join(ui, 'dist', 'index.ejs'), 'utf8').replace(/<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>\s*/g, '');
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bull-board-'));
  writeFileSync(path.join(dir, 'index.ejs'), html);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * bull-board, the BullMQ ecosystem's dashboard, for the migration queues when MIGRATION_QUEUE=bullmq: runs
 * and their partitions, attempts, failures and their reasons, with bull-board's own retry / clean actions.
 * Mounted at /console/queues behind the console's admin session (see ConsoleModule.mount); null when the
 * in-process runner is on (there is no queue to show).
 */
@Injectable()
export class QueueDashboard implements OnModuleDestroy {
  private readonly opened: ReturnType<typeof dashboardQueues> | null;
  private readonly template: ReturnType<typeof localTemplate> | null;
  readonly router: Router | null;

  constructor(@Inject(SWITCHYARD_CONFIG) config: SwitchyardConfig) {
    const cfg = config.migration.queue;
    if (cfg.kind !== 'bullmq') {
      this.opened = null;
      this.template = null;
      this.router = null;
      return;
    }
    this.opened = dashboardQueues(cfg);
    const server = new ExpressAdapter().setBasePath(QUEUES_PATH);
    createBullBoard({
      queues: this.opened.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
      serverAdapter: server,
      options: { uiConfig: { boardTitle: 'Switchyard queues', hideRedisDetails: false } },
    });
    this.template = localTemplate();
    server.setViewsPath(this.template.dir); // after createBullBoard, which set bull-board's own
    this.router = server.getRouter() as Router;
  }

  async onModuleDestroy(): Promise<void> {
    this.template?.remove();
    await this.opened?.close();
  }
}
