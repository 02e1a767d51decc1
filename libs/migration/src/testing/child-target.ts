import type { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createRelationalDb, RelationalDb } from '@switchyard/relational-db';
import { createVectorDb, VectorDb } from '@switchyard/vector-db';

/** The target providers a test child process opens (its JSON config's `target`). */
export interface ChildTarget {
  relational: RelationalDbConfig;
  vector: VectorDbConfig;
  model: string | null;
}

/** Opens a child's target providers; `close` closes both. */
export async function openChildTarget(t: ChildTarget): Promise<{ relational: RelationalDb; vector: VectorDb; close(): Promise<void> }> {
  const relational = createRelationalDb(t.relational);
  await relational.init();
  const vector = createVectorDb(t.vector, t.model);
  await vector.init();
  return {
    relational,
    vector,
    close: async () => {
      await vector.close();
      await relational.close();
    },
  };
}
