import type { ChildProcess } from 'node:child_process';
import { spawnTs } from '../../../../test/support/child';

/** An app instance writing in its own process (source-writer.ts, knowledge-writer.ts): `ok <op>` / `refused <op> <message>` lines. */
export interface WriterProcess {
  child: ChildProcess;
  output(): string;
  /** Writes it reported as accepted so far. */
  oks(): number;
  /** Resolves once it has reported `n` accepted writes (it is writing before the job starts). */
  started(n: number, timeoutMs: number): Promise<void>;
  /** Closes its stdin (it stops writing) and waits for it to exit. */
  stop(): Promise<void>;
  /** Its refused writes whose reason is not a freeze (each one is a bug). */
  otherRefusals(): string[];
}

export function startWriter(file: string, args: string[]): WriterProcess {
  const { child, output } = spawnTs(file, args, ['pipe', 'pipe', 'pipe']);
  const oks = () => (output().match(/^ok /gm) ?? []).length;
  return {
    child,
    output,
    oks,
    async started(n, timeoutMs) {
      for (let waited = 0; oks() < n; waited += 50) {
        if (waited > timeoutMs) throw new Error(`the writer did not start writing: ${output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      child.stdin!.end();
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
    otherRefusals: () => output().split('\n').filter((l) => l.startsWith('refused ') && !l.includes('MAINTENANCE')),
  };
}
