import 'reflect-metadata';
import { ConfigError, embeddingModelName, loadConfig, SwitchyardError } from '@switchyard/core';
import { createEmbeddings } from '@switchyard/embeddings';
import { ConflictPolicy, createMigrationService, DatasetKind, MigrationJob, MigrationKind, MigrationService } from '@switchyard/migration';
import { createRelationalDb } from '@switchyard/relational-db';
import { createVectorDb } from '@switchyard/vector-db';

const USAGE = `usage: switchyard <command> [options]

  migrate <relational|vectors|reindex|full-stack> [--dry-run] [--on-conflict FAIL|SKIP|OVERWRITE|TRUNCATE] [--source NAME] [--batch-size N] [--tables a,b] [--exclude-tables c] [--live]
  unfreeze [--source NAME]                 end the write freeze a live migration left on a source (rollback)
  resume <jobId> [--overwrite]
  export <relational|vectors> --path FILE [--source NAME] [--overwrite]
  import <relational|vectors> --path FILE [--on-conflict POLICY] [--dry-run]
  verify <jobId>
  restore <jobId>            restore the backups a TRUNCATE/OVERWRITE job took
  status [jobId]             one job, or the latest jobs

Providers come from the environment / .env (the target = active providers; --source names a
MIGRATION_<NAME>_* profile, default "source"). Files live under MIGRATION_DATA_DIR.`;

function parse(argv: string[]) {
  const pos: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) pos.push(a);
    else if (['--dry-run', '--overwrite', '--help', '--live'].includes(a)) flags[a.slice(2)] = true;
    else flags[a.slice(2)] = argv[++i] ?? '';
  }
  return { pos, flags };
}

const fmtTime = (s: number | null) => (s === null || !Number.isFinite(s) ? '--:--' : `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}`);

/** Live progress on stderr: a bar, rows/s and ETA. */
function progressLine(job: MigrationJob): string {
  const p = job.progress;
  if (!p) return `${job.kind} ${job.status}`;
  const ratio = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  const width = 30;
  const bar = '#'.repeat(Math.round(ratio * width)).padEnd(width, '.');
  return `${job.kind} [${bar}] ${(ratio * 100).toFixed(1)}% ${p.done}/${p.total} ${Math.round(p.ratePerSecond)}/s ETA ${fmtTime(p.etaSeconds)} (${p.phase})`;
}

/** Final pgloader-like summary: per table/collection read, written, skipped, errors, time. */
function summary(job: MigrationJob): string {
  const rows = (job.progress?.steps ?? []).map((s) => [s.name, s.read, s.written, s.skipped, s.errors, `${(s.ms / 1000).toFixed(2)}s`]);
  const head = ['table', 'read', 'written', 'skipped', 'errors', 'time'];
  const all = [head, ...rows].map((r) => r.map(String));
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const out = [line(all[0]), w.map((n) => '-'.repeat(n)).join('  '), ...all.slice(1).map(line)];
  out.push('', `job ${job.id}: ${job.status}${job.error ? ` — ${job.errorCode ?? ''} ${job.error}` : ''}`);
  if (job.verification) {
    out.push(`verification: ${job.verification.ok ? 'OK' : 'FAILED'}${job.verification.recallAt10 !== null ? `, recall@10 ${job.verification.recallAt10.toFixed(3)}` : ''}${job.verification.orphans != null ? `, ${job.verification.orphans} orphan vector(s)` : ''}`);
    for (const t of job.verification.tables) out.push(`  ${t.name}: source ${t.sourceCount}, target ${t.targetCount}, checksum ${t.checksumMatch === null ? 'n/a' : t.checksumMatch ? 'match' : 'MISMATCH'}`);
  }
  if (job.backups.length) out.push(`backups: ${job.backups.map((b) => (b.empty ? `${b.step} (empty)` : `${b.kind}:${b.name}`)).join(', ')}`);
  const rejected = (job.progress?.steps ?? []).reduce((n, s) => n + s.errors, 0);
  if (rejected && job.options.rejectFile) out.push(`rejects: ${rejected} record(s) in ${job.options.rejectFile} (inside MIGRATION_DATA_DIR)`);
  if (job.status === 'PLANNED' && job.plan) out.push('plan:', JSON.stringify(job.plan, null, 2));
  return out.join('\n');
}

async function follow(service: MigrationService, job: MigrationJob): Promise<MigrationJob> {
  const tty = process.stderr.isTTY;
  let last = 0;
  const off = service.subscribe(job.id, (j) => {
    const now = Date.now();
    if (!tty && now - last < 2000) return;
    last = now;
    process.stderr.write(tty ? `\r\x1b[2K${progressLine(j)}` : `${progressLine(j)}\n`);
  });
  const final = await service.waitFor(job.id);
  off();
  if (tty) process.stderr.write('\n');
  return final;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { pos, flags } = parse(argv);
  const [cmd, arg] = pos;
  if (!cmd || flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return cmd ? 0 : 2;
  }
  try {
    process.loadEnvFile?.('.env');
  } catch {
    /* no .env */
  }
  const config = loadConfig();
  const relational = createRelationalDb(config.relational);
  const vector = createVectorDb(config.vector, embeddingModelName(config.embeddings));
  const embeddings = createEmbeddings(config.embeddings);
  await relational.init();
  await vector.init();
  const service = createMigrationService(config, relational, vector, embeddings);
  const kindOf = (s: string | undefined, allowed: string[]) => {
    const k = (s ?? '').toUpperCase().replace(/-/g, '_');
    if (!allowed.includes(k)) throw new SwitchyardError('BAD_INPUT', `expected one of ${allowed.map((a) => a.toLowerCase().replace(/_/g, '-')).join(', ')}; got ${JSON.stringify(s ?? '')}`);
    return k;
  };
  const policy = flags['on-conflict'] ? (String(flags['on-conflict']).toUpperCase() as ConflictPolicy) : undefined;
  try {
    let job: MigrationJob;
    switch (cmd) {
      case 'migrate': {
        const kind = kindOf(arg, ['RELATIONAL', 'VECTORS', 'REINDEX', 'FULL_STACK']) as MigrationKind;
        if (kind === 'REINDEX') await embeddings.init();
        job = await service.start({ kind, source: flags.source as string | undefined, dryRun: !!flags['dry-run'], onConflict: policy, batchSize: flags['batch-size'] ? Number(flags['batch-size']) : undefined, tables: tableFlags(flags), live: !!flags.live });
        break;
      }
      case 'resume':
        job = await service.resume(arg, { overwrite: !!flags.overwrite });
        break;
      case 'export':
        job = await service.exportData({ kind: kindOf(arg, ['RELATIONAL', 'VECTORS']) as DatasetKind, path: String(flags.path ?? ''), source: flags.source as string | undefined, overwrite: !!flags.overwrite });
        break;
      case 'import':
        job = await service.importData({ kind: kindOf(arg, ['RELATIONAL', 'VECTORS']) as DatasetKind, path: String(flags.path ?? ''), onConflict: policy, dryRun: !!flags['dry-run'] });
        break;
      case 'restore':
        job = await service.restoreBackup(arg);
        break;
      case 'verify': {
        const v = await service.verify(arg);
        process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
        return v.ok ? 0 : 1;
      }
      case 'unfreeze': {
        const was = await service.unfreeze((flags.source as string | undefined) ?? 'source');
        process.stdout.write(was ? 'unfrozen: the source takes writes again\n' : 'the source was not frozen\n');
        return 0;
      }
      case 'status': {
        const jobs = arg ? [await service.get(arg)] : await service.list(20);
        for (const j of jobs) process.stdout.write(`${j.id}  ${j.kind.padEnd(10)} ${j.status.padEnd(22)} ${j.source} -> ${j.target}  ${j.progress ? `${j.progress.done}/${j.progress.total}` : ''}\n`);
        return 0;
      }
      default:
        process.stderr.write(`unknown command ${JSON.stringify(cmd)}\n${USAGE}\n`);
        return 2;
    }
    const final = job.status === 'RUNNING' ? await follow(service, job) : job;
    process.stdout.write(`${summary(final)}\n`);
    // 0: verified; 2: verified, with records set aside (see the reject file); 1: anything else.
    return final.status === 'SUCCEEDED' || final.status === 'CUT_OVER' || final.status === 'PLANNED' ? 0 : final.status === 'SUCCEEDED_WITH_REJECTS' ? 2 : 1;
  } finally {
    await service.close();
    await vector.close();
    await relational.close();
    await embeddings.close();
  }
}

/** Runs the CLI and exits with its status (used by bin/switchyard.js). */
export function run(): void {
  main().then(
    (code) => process.exit(code),
    (e) => {
      const msg = e instanceof ConfigError ? e.message : e instanceof SwitchyardError ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e);
      process.stderr.write(`switchyard: ${msg}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) run();

/** --tables a,b / --exclude-tables c: the tables of a RELATIONAL job. */
function tableFlags(flags: Record<string, unknown>): { include?: string[]; exclude?: string[] } | undefined {
  const list = (v: unknown) => (typeof v === 'string' && v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
  const include = list(flags.tables);
  const exclude = list(flags['exclude-tables']);
  return include || exclude ? { include, exclude } : undefined;
}
