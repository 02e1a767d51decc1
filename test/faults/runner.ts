import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import type { StartMigrationInput } from '@switchyard/migration';
import { childCommand } from './build-child';
import type { ChildEvent, JobSummary, Phase, RequestBody, RunnerConfig } from './protocol';

const ROOT = path.resolve(__dirname, '../..');
/** Safety net only (a hung child fails the scenario with its output instead of hanging the suite). */
const REPLY_TIMEOUT_MS = 120_000;

export type LaunchResult = { accepted: true; jobId: string } | { accepted: false; code: string; message: string; jobId?: string };
type Reply = Extract<ChildEvent, { ev: 'reply' }>;

/**
 * A runner child process (runner-child.ts) as the harness drives it: requests and replies, phase events,
 * the job's end, and SIGKILL. Output is kept (last lines) for failure messages.
 */
export class RunnerProcess {
  private readonly child: ChildProcess;
  private seq = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private readonly phaseListeners = new Set<(e: Extract<ChildEvent, { ev: 'phase' }>) => void>();
  private readonly tail: string[] = [];
  private buffer = '';
  private finishedJob: JobSummary | null = null;
  private finishedWaiters: ((j: JobSummary) => void)[] = [];
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Calls on the target that wrote (truncate, batch writes, index build) since the last launch. */
  writes = 0;
  lastPhase: Phase | null = null;
  readonly logs: string[] = [];

  constructor(readonly name: string) {
    const cmd = childCommand();
    this.child = spawn(process.execPath, cmd.args, {
      cwd: ROOT,
      env: { ...process.env, ...cmd.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin!.on('error', () => undefined); // writing to a killed child
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: did not load in time\n${this.output()}`)), REPLY_TIMEOUT_MS).unref();
      this.onEvent = (e) => {
        if (e.ev !== 'ready') return;
        clearTimeout(timer);
        resolve();
      };
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${name}: exited (${code ?? signal}) before it was ready\n${this.output()}`));
      });
    });
    this.ready.catch(() => undefined);
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d));
    this.child.stderr!.on('data', (d: Buffer) => this.keep(`stderr: ${d.toString().trimEnd()}`));
  }

  private onEvent: (e: ChildEvent) => void = () => undefined;

  private keep(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 40) this.tail.shift();
  }

  /** The child's last lines of output, for failure messages. */
  output(): string {
    return this.tail.map((l) => `    [${this.name}] ${l}`).join('\n');
  }

  private onData(d: Buffer): void {
    this.buffer += d.toString();
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      let e: ChildEvent;
      try {
        e = JSON.parse(line) as ChildEvent;
      } catch {
        this.keep(line);
        continue;
      }
      this.dispatch(e);
    }
  }

  private dispatch(e: ChildEvent): void {
    if (e.ev !== 'phase') this.keep(JSON.stringify(e));
    switch (e.ev) {
      case 'reply':
        this.waiting.get(e.seq)?.(e);
        this.waiting.delete(e.seq);
        break;
      case 'phase':
        this.lastPhase = e.phase;
        if (e.phase !== 'verify' && e.phase !== 'backup') this.writes++;
        for (const l of this.phaseListeners) l(e);
        break;
      case 'finished':
        this.finishedJob = e.job;
        for (const w of this.finishedWaiters.splice(0)) w(e.job);
        break;
      case 'log':
        this.logs.push(`${e.level}: ${e.message}`);
        break;
      default:
        this.onEvent(e);
    }
  }

  private request(req: RequestBody): Promise<Reply> {
    const seq = ++this.seq;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no reply to ${req.op} in time\n${this.output()}`)), REPLY_TIMEOUT_MS).unref();
      const died = () => reject(new Error(`${this.name}: exited while waiting for the reply to ${req.op}\n${this.output()}`));
      void this.exited.then(died);
      this.waiting.set(seq, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.stdin!.write(`${JSON.stringify({ ...req, seq })}\n`);
    });
  }

  async open(config: RunnerConfig): Promise<void> {
    await this.ready;
    const r = await this.request({ op: 'open', config });
    if (!r.ok) throw new Error(`${this.name}: could not open the target: ${r.code}: ${r.message}\n${this.output()}`);
  }

  /** Sends the start (or resume) request now; resolves when the service accepted or refused it. */
  start(input: StartMigrationInput): Promise<LaunchResult> {
    return this.launch({ op: 'start', input });
  }

  resume(id: string): Promise<LaunchResult> {
    return this.launch({ op: 'resume', id });
  }

  private async launch(req: Extract<RequestBody, { op: 'start' | 'resume' }>): Promise<LaunchResult> {
    this.writes = 0;
    this.finishedJob = null;
    const r = await this.request(req);
    return r.ok ? { accepted: true, jobId: r.jobId! } : { accepted: false, code: r.code, message: r.message, jobId: r.jobId };
  }

  onPhase(listener: (e: Extract<ChildEvent, { ev: 'phase' }>) => void): () => void {
    this.phaseListeners.add(listener);
    return () => this.phaseListeners.delete(listener);
  }

  /** The job launched last, once it is no longer running in this process; null if the process died first. */
  finished(): Promise<JobSummary | null> {
    if (this.finishedJob) return Promise.resolve(this.finishedJob);
    return new Promise((resolve) => {
      this.finishedWaiters.push(resolve);
      void this.exited.then(() => resolve(this.finishedJob));
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Closes the target connections and lets the process exit (kills it if it does not). */
  async close(): Promise<void> {
    if (!this.alive) return;
    try {
      await Promise.race([this.request({ op: 'close' }), this.exited]);
    } catch {
      /* exiting */
    }
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref())]);
    if (!gone) await this.kill();
  }
}

/** Starts `n` runner processes at once and waits until all have loaded. */
export async function runners(prefix: string, n: number): Promise<RunnerProcess[]> {
  const all = Array.from({ length: n }, (_, i) => new RunnerProcess(`${prefix}${i + 1}`));
  try {
    await Promise.all(all.map((r) => r.ready));
  } catch (e) {
    await Promise.all(all.map((r) => r.kill()));
    throw e;
  }
  return all;
}
