import { Injectable } from '@nestjs/common';
import { SwitchyardError } from '@switchyard/core';
import { In } from 'typeorm';
import { DocumentEntity, EmbeddingGenerationEntity } from '../entities';
import { RelationalDb } from '../relational-db.port';

export type GenerationState = 'ACTIVE' | 'BUILDING' | 'PREVIOUS' | 'DROPPED';
/** The states the app writes: every generation that may be searched (again). */
export const LIVE_GENERATION_STATES: readonly GenerationState[] = ['ACTIVE', 'BUILDING', 'PREVIOUS'];

/** What a generation is made of. */
export interface GenerationSpec {
  model: string;
  dimensions: number;
  collection: string;
}

/** Rolls the flip's transaction back when its target changed state meanwhile. */
class GenerationMoved extends Error {}

/** The embedding generations (EmbeddingGenerationEntity): read by every app instance, changed in single transactions. */
@Injectable()
export class GenerationsRepository {
  constructor(private readonly db: RelationalDb) {}

  list(): Promise<EmbeddingGenerationEntity[]> {
    return this.db.repository(EmbeddingGenerationEntity).find({ order: { id: 'ASC' } });
  }

  /**
   * Records a new BUILDING generation (numbered after the last) built by `jobId`, in one transaction
   * that first records `base` as the ACTIVE generation 1 when there is no row yet. Refused
   * (MODEL_SWITCH_IN_PROGRESS) while another generation is BUILDING.
   */
  async begin(base: GenerationSpec, next: (id: number) => GenerationSpec, jobId: string): Promise<EmbeddingGenerationEntity> {
    const now = new Date().toISOString();
    try {
      return await this.db.dataSource.transaction(async (m) => {
        const repo = m.getRepository(EmbeddingGenerationEntity);
        const rows = await repo.find({ order: { id: 'ASC' } });
        const building = rows.find((r) => r.state === 'BUILDING');
        if (building) {
          throw new SwitchyardError('MODEL_SWITCH_IN_PROGRESS', `generation ${building.id} (${building.model}) is already being built by job ${building.jobId}; resume, switch to or drop it first`, { generation: building.id, jobId: building.jobId });
        }
        // Plain INSERTs (save() would UPDATE a row another switch committed meanwhile under the same id): the
        // primary key makes the second of two concurrent switches fail.
        const add = async (row: EmbeddingGenerationEntity) => (await repo.insert(row), row);
        if (!rows.length) rows.push(await add(repo.create({ id: 1, ...base, state: 'ACTIVE', jobId: null, createdAt: now, changedAt: now })));
        const id = rows[rows.length - 1].id + 1;
        return add(repo.create({ id, ...next(id), state: 'BUILDING', jobId, createdAt: now, changedAt: now }));
      });
    } catch (e) {
      if (e instanceof SwitchyardError) throw e;
      // Two switches started at once: the other one's row came first (same generation number).
      if ((await this.list()).some((r) => r.state === 'BUILDING' && r.jobId !== jobId)) {
        throw new SwitchyardError('MODEL_SWITCH_IN_PROGRESS', 'another model switch started at the same time; resume, switch to or drop it first', {});
      }
      throw e;
    }
  }

  /**
   * The flip: `id` becomes ACTIVE and the ACTIVE one PREVIOUS, and documents recorded as embedded with
   * the old active model are recorded with the new one, in one transaction. `from` are the states `id`
   * may be in. False when `id` is not in one of them any more (someone else changed it).
   */
  async activate(id: number, from: GenerationState[]): Promise<boolean> {
    const now = new Date().toISOString();
    return this.db.dataSource.transaction(async (m) => {
      const repo = m.getRepository(EmbeddingGenerationEntity);
      const target = await repo.findOne({ where: { id, state: In(from) } });
      const active = await repo.findOne({ where: { state: 'ACTIVE' } });
      if (!target || !active || active.id === id) return false;
      const moved = await repo.update({ id: active.id, state: 'ACTIVE' }, { state: 'PREVIOUS', changedAt: now });
      if (!moved.affected) return false;
      // Still in one of `from` (a drop may have marked it DROPPED since it was read): else nothing changes.
      const made = await repo.update({ id, state: In(from) }, { state: 'ACTIVE', changedAt: now });
      if (!made.affected) throw new GenerationMoved();
      if (active.model !== target.model) await m.getRepository(DocumentEntity).update({ embeddingModel: active.model }, { embeddingModel: target.model });
      return true;
    }).catch((e) => {
      if (e instanceof GenerationMoved) return false;
      throw e;
    });
  }

  /** Moves `id` from one of the states `from` to `to`; false if it was in none of them. */
  async setState(id: number, from: GenerationState[], to: GenerationState): Promise<boolean> {
    const r = await this.db.repository(EmbeddingGenerationEntity).update({ id, state: In(from) }, { state: to, changedAt: new Date().toISOString() });
    return (r.affected ?? 0) > 0;
  }
}
