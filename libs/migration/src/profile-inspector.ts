import { ProviderProfile } from '@switchyard/core';
import type { ContextBuilder } from './job-context';

/** One side of a source profile as the operator sees it: reachable or why not, and what it holds. */
export interface ProfileSideStatus {
  provider: string;
  reachable: boolean;
  location: string | null;
  error: string | null;
}

export interface ProfileVectorStatus extends ProfileSideStatus {
  collection: string;
  /** What MIGRATION_<NAME>_VECTOR_DB_DIMENSIONS says. */
  dimensions: number;
  storedDimensions: number | null;
  storedModel: string | null;
  count: number | null;
  /** Read from a Chroma persist directory (no server). */
  persistDir: string | null;
  /** Why a VECTORS copy from this store into the active one would be refused (another dimension), else null. */
  mismatch: string | null;
}

export interface ProfileStatus {
  name: string;
  relational: ProfileSideStatus;
  vector: ProfileVectorStatus;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Opens `open()` and reads it with `read`, in at most `timeoutMs`: a provider that does not answer is
 * reported as such instead of holding the view (what it opened late is closed when it arrives).
 */
async function probe<T, R>(open: () => Promise<{ db: T; close(): Promise<void> }>, read: (db: T) => Promise<R>, timeoutMs: number): Promise<{ ok: true; value: R } | { ok: false; error: string }> {
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  const work = (async () => {
    const h = await open();
    if (late) {
      await h.close().catch(() => undefined);
      throw new Error('late');
    }
    try {
      return await read(h.db);
    } finally {
      await h.close().catch(() => undefined);
    }
  })();
  try {
    const value = await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          late = true;
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
    return { ok: true, value };
  } catch (e) {
    work.catch(() => undefined);
    return { ok: false, error: message(e) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Every source profile (MIGRATION_<NAME>_*), opened read-only the way a job opens it (nothing is created
 * or migrated on it), each side within `timeoutMs`: reachability, where it is, and for the vector store
 * its stored dimensions, model and count, with what a copy into the active store would say of them.
 */
export async function inspectProfiles(
  contexts: ContextBuilder,
  profiles: Record<string, ProviderProfile>,
  active: { dimensions: number },
  timeoutMs: number,
): Promise<ProfileStatus[]> {
  return Promise.all(
    Object.values(profiles).map(async (p): Promise<ProfileStatus> => {
      const [rel, vec] = await Promise.all([
        probe(() => contexts.openRelational(p.name), async (db) => ({ location: db.label }), timeoutMs),
        probe(() => contexts.openVector(p.name), (db) => db.describe(), timeoutMs),
      ]);
      const stored = vec.ok ? vec.value.storedDimensions : null;
      return {
        name: p.name,
        relational: { provider: p.relational.provider, reachable: rel.ok, location: rel.ok ? rel.value.location : null, error: rel.ok ? null : rel.error },
        vector: {
          provider: p.vector.provider,
          reachable: vec.ok,
          location: vec.ok ? vec.value.location : null,
          error: vec.ok ? null : vec.error,
          collection: p.vector.collection,
          dimensions: p.vector.dimensions,
          storedDimensions: stored,
          storedModel: vec.ok ? vec.value.storedModel : null,
          count: vec.ok ? vec.value.count : null,
          persistDir: p.vector.provider === 'chromadb' ? (p.vector.persistDir ?? null) : null,
          mismatch:
            stored !== null && stored !== active.dimensions
              ? `holds ${stored}-dimension vectors; the active store takes ${active.dimensions}: copy it with REINDEX (re-embeds with the active model), not VECTORS`
              : null,
        },
      };
    }),
  );
}
