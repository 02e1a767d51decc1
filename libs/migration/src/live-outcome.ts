import { SwitchyardError } from '@switchyard/core';
import type { MigrationJobEntity } from '@switchyard/relational-db';
import type { JobContext } from './job-context';

/**
 * A resumed live job whose capture is gone (`unfreeze` removed it while the job was stopped): what the app
 * wrote since is unknown, so the checkpoints cannot be trusted.
 */
export async function captureLost(job: MigrationJobEntity, ctx: JobContext): Promise<SwitchyardError | null> {
  if (!ctx.live || (await ctx.live.capturing())) return null;
  return new SwitchyardError(
    'MIGRATION_STATE',
    `live job ${job.id} stopped and its change capture was removed from the source since (unfreeze): writes made meanwhile are not known, so it cannot go on from its checkpoints. Run it again from the start: resume with overwrite (GraphQL resumeMigration(id, overwrite: true), CLI \`switchyard resume ${job.id} --overwrite\`). Nothing was written.`,
    { id: job.id },
  );
}

/** The error of a live job that stopped: the source takes writes again and keeps the job's capture. */
export function liveStopped(e: unknown): unknown {
  if (!(e instanceof SwitchyardError)) return e;
  const note = ' The source takes writes again and keeps this job\'s change capture, so a resume misses nothing written meanwhile; `switchyard unfreeze` for the source profile removes it (the job then has to start over).';
  return new SwitchyardError(e.code, `${e.message}${note}`, e.details);
}
