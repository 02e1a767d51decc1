import { Inject, Injectable, Logger } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { Embeddings } from '@switchyard/embeddings';
import { ChangeCapture, RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { Probe, ProbeOutcome } from './probe';

/** The message of `writes` while the app's relational database is frozen by a live migration's cutover. */
export const FROZEN_MESSAGE = 'frozen for a migration cutover';

type Check = 'relational' | 'vector' | 'embeddings' | 'writes';

/**
 * The readiness checks, one terminus indicator per key:
 * - `relational`, `vector`: the active provider's ping() (PostgreSQL `SELECT 1`, Chroma heartbeat, ...);
 * - `embeddings`: the model is loaded (its output dimension is known);
 * - `writes`: the app's relational database is not frozen by a live migration (a row in `<prefix>freeze`,
 *   read the way ChangeCapture.frozen() reads it).
 * Each answers within HEALTH_TIMEOUT_MS or counts as down with message `timeout`. A result names the
 * provider kind only: no location, URL, path or driver message.
 */
@Injectable()
export class Readiness {
  private readonly log = new Logger('Health');
  private readonly last = new Map<string, string>();
  private readonly probes: Record<Check, Probe>;

  constructor(
    @Inject(SWITCHYARD_CONFIG) config: SwitchyardConfig,
    private readonly indicator: HealthIndicatorService,
    private readonly relational: RelationalDb,
    private readonly vector: VectorDb,
    private readonly embeddings: Embeddings,
  ) {
    const ms = config.health.timeoutMs;
    // Only frozen() is used: it reads `<prefix>freeze` and installs nothing.
    const capture = new ChangeCapture(relational, []);
    this.probes = {
      relational: new Probe(() => relational.ping(), ms),
      vector: new Probe(() => vector.ping(), ms),
      embeddings: new Probe((): ProbeOutcome => (loaded(embeddings) ? { up: true } : { up: false, message: 'model not loaded' }), ms),
      writes: new Probe(async (): Promise<ProbeOutcome> => ((await capture.frozen()) ? { up: false, message: FROZEN_MESSAGE } : { up: true }), ms),
    };
  }

  /** The indicator functions for HealthCheckService.check(), run in parallel by terminus. */
  indicators(): Array<() => Promise<HealthIndicatorResult>> {
    return [
      () => this.result('relational', this.relational.provider),
      () => this.result('vector', this.vector.provider),
      () => this.result('embeddings', this.embeddings.provider),
      () => this.result('writes'),
    ];
  }

  private async result(key: Check, provider?: string): Promise<HealthIndicatorResult> {
    const outcome = await this.probes[key].run();
    this.logChange(key, provider, outcome);
    const session = this.indicator.check(key);
    const who: Record<string, string> = provider ? { provider } : {};
    return outcome.up ? session.up(who) : session.down({ ...who, message: outcome.message });
  }

  /** One log line when a check changes state (not one per probe: load balancers probe every few seconds). */
  private logChange(key: string, provider: string | undefined, outcome: ProbeOutcome): void {
    const state = outcome.up ? 'up' : `down (${outcome.message})`;
    const before = this.last.get(key);
    this.last.set(key, state);
    if (before === state || (before === undefined && outcome.up)) return;
    const what = provider ? `${key} (${provider})` : key;
    if (outcome.up) this.log.log(`readiness: ${what} is up again`);
    else this.log.warn(`readiness: ${what} is ${state}`);
  }
}

/** Whether the model is loaded: the port knows its output dimension only after init(). */
function loaded(embeddings: Embeddings): boolean {
  try {
    return embeddings.dimensions > 0;
  } catch {
    return false;
  }
}
