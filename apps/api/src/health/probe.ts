/** What one provider check found. `message` is generic (never a location, URL, path or driver text). */
export type ProbeOutcome = { up: true } | { up: false; message: 'timeout' | 'unreachable' | string };

/**
 * One provider check with a hard limit: the answer of `check` if it comes within `timeoutMs`, otherwise
 * `{ up: false, message: 'timeout' }` at `timeoutMs` (a timer races the driver; the driver is not waited for).
 *
 * Probes arriving while an earlier call is still out share it instead of starting another, as long as that
 * call is younger than `timeoutMs`; an older one is given up on and a new one starts. So a provider that
 * stops answering gets at most one stuck call per `timeoutMs` from this probe, not one per request (a load
 * balancer probing every second would otherwise pile up sockets and pool connections), and a provider
 * that answers again is seen as up on the next probe.
 */
export class Probe {
  private inFlight?: { since: number; outcome: Promise<ProbeOutcome> };

  constructor(
    private readonly check: () => Promise<boolean | ProbeOutcome> | boolean | ProbeOutcome,
    private readonly timeoutMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  run(): Promise<ProbeOutcome> {
    const at = this.now();
    if (!this.inFlight || at - this.inFlight.since >= this.timeoutMs) {
      const entry = { since: at, outcome: this.call() };
      this.inFlight = entry;
      void entry.outcome.finally(() => {
        if (this.inFlight === entry) this.inFlight = undefined;
      });
    }
    return withTimeout(this.inFlight.outcome, this.timeoutMs);
  }

  private async call(): Promise<ProbeOutcome> {
    try {
      const r = await this.check();
      if (typeof r === 'boolean') return r ? { up: true } : { up: false, message: 'unreachable' };
      return r;
    } catch {
      return { up: false, message: 'unreachable' };
    }
  }
}

/** `outcome`, or `{ up: false, message: 'timeout' }` once `ms` have passed, whichever is first. */
export function withTimeout(outcome: Promise<ProbeOutcome>, ms: number): Promise<ProbeOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ProbeOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ up: false, message: 'timeout' }), ms);
    timer.unref?.();
  });
  return Promise.race([outcome, late]).finally(() => clearTimeout(timer));
}
