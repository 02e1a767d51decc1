/**
 * Named mutexes of this process: callers of one name run one after another (first come, first served),
 * each waiting at most `waitMs` for the ones before it.
 */
export class LocalLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(name: string, waitMs: number, timeout: () => Error, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = before.then(() => mine);
    this.tails.set(name, tail);
    let timer: NodeJS.Timeout | undefined;
    try {
      const turn = await Promise.race([before.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), waitMs)))]);
      if (!turn) throw timeout();
      return await fn();
    } finally {
      clearTimeout(timer);
      // A caller that gave up releases at once: the ones after it still wait for the ones before it (the chain).
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}

export const localLocks = new LocalLocks();
