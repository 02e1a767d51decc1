import { Probe } from './probe';

/** A check whose answers the test gives by hand. */
function manual() {
  const calls: Array<(up: boolean) => void> = [];
  const check = () => new Promise<boolean>((resolve) => calls.push(resolve));
  return { calls, check };
}

describe('Probe', () => {
  it('answers with the check when it comes in time: true is up, false and a throw are unreachable (no driver text)', async () => {
    await expect(new Probe(async () => true, 200).run()).resolves.toEqual({ up: true });
    await expect(new Probe(async () => false, 200).run()).resolves.toEqual({ up: false, message: 'unreachable' });
    await expect(new Probe(async () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:5432')), 200).run()).resolves.toEqual({ up: false, message: 'unreachable' });
    await expect(new Probe(() => { throw new Error('sync'); }, 200).run()).resolves.toEqual({ up: false, message: 'unreachable' });
    await expect(new Probe(() => ({ up: false, message: 'frozen' }), 200).run()).resolves.toEqual({ up: false, message: 'frozen' });
  });

  it('is down with "timeout" at the limit when the check never answers', async () => {
    const t0 = performance.now();
    await expect(new Probe(() => new Promise<boolean>(() => undefined), 150).run()).resolves.toEqual({ up: false, message: 'timeout' });
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(140);
    expect(ms).toBeLessThan(400);
  });

  it('shares a call still out with the probes that arrive meanwhile, and starts a new one once it is older than the limit', async () => {
    let clock = 0;
    const m = manual();
    const probe = new Probe(m.check, 10_000, () => clock);
    const a = probe.run();
    clock = 5_000;
    const b = probe.run();
    expect(m.calls).toHaveLength(1); // b joined a's call
    m.calls[0](true);
    await expect(Promise.all([a, b])).resolves.toEqual([{ up: true }, { up: true }]);

    const c = probe.run(); // a's call is done: a new one
    expect(m.calls).toHaveLength(2);
    clock = 15_000; // the second call is stuck for longer than the limit: given up on
    const d = probe.run();
    expect(m.calls).toHaveLength(3);
    m.calls[2](true);
    await expect(d).resolves.toEqual({ up: true }); // a stuck old call does not keep the probe down
    m.calls[1](false);
    await expect(c).resolves.toEqual({ up: false, message: 'unreachable' });
    const e = probe.run(); // the late answer of the old call did not clear the newer state wrongly
    expect(m.calls).toHaveLength(4);
    m.calls[3](true);
    await expect(e).resolves.toEqual({ up: true });
  });
});
