import { BadInputError, SwitchyardError } from '@switchyard/core';
import { datasetNameOf, DocumentEntity, INTERNAL_ENTITIES, RelationalDb, UserEntity } from '@switchyard/relational-db';
import type { EntityMetadata } from 'typeorm';

/** Which tables a RELATIONAL job moves (by dataset name: `users`, `documents`, or a host table's name). */
export interface TableSelection {
  include?: string[];
  exclude?: string[];
}

/**
 * Every table a RELATIONAL migration moves, parents before children: Switchyard's `users` and
 * `documents`, every table of the host's entities, and the join tables of their many-to-many relations.
 * Switchyard's bookkeeping (jobs, checkpoints, locks), views and single-table-inheritance children (their
 * rows live in the parent's table) are left out. Foreign keys order the tables; a self-reference does not
 * (it is set after the table's copy); a cycle between two tables is refused, naming them.
 */
export function relationalTables(db: RelationalDb, selection: TableSelection = {}): EntityMetadata[] {
  const internal = new Set(INTERNAL_ENTITIES.map((e) => db.metadata(e)));
  const all = db.dataSource.entityMetadatas.filter((m) => !internal.has(m) && m.tableType !== 'view' && m.tableType !== 'entity-child');
  const known = new Map(all.map((m) => [datasetNameOf(m), m]));
  for (const name of [...(selection.include ?? []), ...(selection.exclude ?? [])]) {
    if (!known.has(name)) throw new BadInputError('tables', `no table named ${JSON.stringify(name)} among the entities; known: ${[...known.keys()].join(', ')}`);
  }
  const chosen = all.filter((m) => (!selection.include?.length || selection.include.includes(datasetNameOf(m))) && !selection.exclude?.includes(datasetNameOf(m)));
  // Switchyard's own first (users, documents), then the host's by name: a stable order across runs.
  const own = [db.metadata(UserEntity), db.metadata(DocumentEntity)];
  const rank = (m: EntityMetadata) => (own.includes(m) ? `0${own.indexOf(m)}` : `1${datasetNameOf(m)}`);
  const byName = (a: EntityMetadata, b: EntityMetadata) => (rank(a) < rank(b) ? -1 : 1);
  // documents.user_id names a user without a foreign key (the API's rule): the same order as one.
  const implied = new Map<EntityMetadata, EntityMetadata[]>([[own[1], [own[0]]]]);
  const order: EntityMetadata[] = [];
  const state = new Map<EntityMetadata, 'visiting' | 'done'>();
  const visit = (m: EntityMetadata, path: EntityMetadata[]) => {
    if (state.get(m) === 'done') return;
    if (state.get(m) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(m)), m].map((x) => x.tableName).join(' -> ');
      throw new SwitchyardError('BAD_INPUT', `the tables reference each other in a cycle (${cycle}); a RELATIONAL migration copies parents before children and cannot order these. Exclude one of them (tables.exclude) and copy it separately.`, { cycle });
    }
    state.set(m, 'visiting');
    const parents = [...m.foreignKeys.map((fk) => fk.referencedEntityMetadata), ...(implied.get(m) ?? [])].filter((p) => p && p !== m && chosen.includes(p));
    for (const p of [...new Set(parents)].sort(byName)) visit(p, [...path, m]);
    state.set(m, 'done');
    order.push(m);
  };
  for (const m of [...chosen].sort(byName)) visit(m, []);
  return order;
}
