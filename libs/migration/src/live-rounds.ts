import type { LiveProgress } from './migration.types';

/** Catch-up rounds before the freeze, at most (a source written faster than it can be copied is frozen anyway). */
export const MAX_ROUNDS = 10;

/** What one kind of live job does at each point of the catch-up every live job shares. */
export interface CatchUpPlan {
  /** Freeze once the backlog is this small (it is then copied during the freeze). */
  freezeBelow: number;
  /** Whether the source is frozen already (a run resumed after the freeze). */
  frozen(): Promise<boolean>;
  backlog(): Promise<number>;
  /** One catch-up round: applies the `backlog` changes waiting when it began. */
  round(backlog: number): Promise<void>;
  freeze(): Promise<void>;
  /** The last delta, once frozen. */
  last(): Promise<void>;
}

/**
 * The catch-up of a live job: rounds until the backlog is small (at most MAX_ROUNDS), the freeze, the last
 * delta; and the freeze's clock, read at the cutover. `check` stops a cancelled or taken-over run between
 * steps; `report` publishes progress.
 */
export class CatchUp {
  private freezeStarted: number | null = null;

  constructor(private readonly progress: Pick<LiveProgress, 'rounds' | 'backlog' | 'frozen' | 'freezeMs'>) {}

  async run(plan: CatchUpPlan, check: () => Promise<void>, report: (phase: 'catch-up' | 'freeze') => Promise<void>): Promise<void> {
    const p = this.progress;
    p.frozen = await plan.frozen();
    if (!p.frozen) await report('catch-up'); // the bulk copy is done: the phase the operator sees from here on
    while (!p.frozen) {
      await check();
      p.backlog = await plan.backlog();
      if (p.backlog <= plan.freezeBelow || p.rounds >= MAX_ROUNDS) break;
      p.rounds++;
      await plan.round(p.backlog);
      await report('catch-up');
    }
    await check();
    if (!p.frozen) {
      this.freezeStarted = Date.now();
      await plan.freeze();
      p.frozen = true;
    } else this.freezeStarted ??= Date.now(); // resumed while frozen: counted from now
    await report('freeze');
    await plan.last();
  }

  /** At the cutover: how long the source was frozen. */
  stopClock(): void {
    this.progress.freezeMs = this.freezeStarted === null ? null : Date.now() - this.freezeStarted;
  }
}
