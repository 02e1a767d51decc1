import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who runs a job: "<instance>/<boot>/<pid namespace>/<pid>/<nonce>".
 * - instance: MIGRATION_INSTANCE_ID (or the host name): names the app instance (pod, VM, container).
 * - boot: the kernel's boot id: a reboot of the machine means every process of the last boot is dead.
 * - pid namespace: the inode of /proc/self/ns/pid; a pid only means something inside its namespace
 *   (two containers on one host share the boot id but not their pids).
 * - pid + nonce: the process, and one random value per process start, so a restarted container whose
 *   process has the same pid (often 1) is still told apart from the process that died.
 *
 * Rule (used by resume and cancel): a RUNNING job whose owner has our instance, boot id and pid namespace
 * is dead at once when its pid is not alive, or when its pid is ours but its nonce is not (a previous
 * process with our pid). Anything else (another instance, another boot, another namespace, a live process)
 * is taken for alive until its heartbeat is older than staleAfterMs.
 */
export interface RunOwner {
  instance: string;
  boot: string;
  pidns: string;
  pid: number;
  nonce: string;
}

const NONCE = randomUUID().slice(0, 8);

function pidNamespace(): string {
  try {
    return String(statSync('/proc/self/ns/pid').ino);
  } catch {
    return 'unknown-ns';
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** This process as an owner. `instance` defaults to the host name. */
export function currentOwner(instance?: string): RunOwner {
  return { instance: (instance || hostname()).replace(/\//g, '_'), boot: bootId(), pidns: pidNamespace(), pid: process.pid, nonce: NONCE };
}

export function formatOwner(o: RunOwner): string {
  return `${o.instance}/${o.boot}/${o.pidns}/${o.pid}/${o.nonce}`;
}

export function parseOwner(s: string | null | undefined): RunOwner | null {
  const m = s ? /^(.*)\/([^/]+)\/([^/]+)\/(\d+)\/([^/]+)$/.exec(s) : null;
  return m ? { instance: m[1], boot: m[2], pidns: m[3], pid: Number(m[4]), nonce: m[5] } : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process that owns a job is known dead from here, without waiting for its heartbeat to go
 * stale: same instance and machine boot, and its process is gone (or its pid is now ours).
 */
export function ownerIsDead(owner: string | null | undefined, me: RunOwner): boolean {
  const o = parseOwner(owner);
  // Another instance, another machine boot (or another machine given the same instance id), another pid
  // namespace: nothing can be known from here, the heartbeat decides.
  if (!o || o.instance !== me.instance || o.boot !== me.boot || o.pidns !== me.pidns || o.pidns === 'unknown-ns') return false;
  if (o.pid === me.pid) return o.nonce !== me.nonce;
  return !alive(o.pid);
}
