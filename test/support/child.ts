import { ChildProcess, spawn, StdioOptions } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from './services';

/**
 * Runs a TypeScript file of the repo in a real child process (ts-node, transpile only, the repo's path
 * aliases), collecting everything it prints. Used by the tests that kill, freeze or race real processes.
 */
export function spawnTs(file: string, args: string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe']): { child: ChildProcess; output: () => string } {
  const root = repoRoot();
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', file, ...args], {
    cwd: root,
    env: { ...process.env, TS_NODE_PROJECT: path.join(root, 'tsconfig.json') },
    stdio,
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  return { child, output: () => out };
}
