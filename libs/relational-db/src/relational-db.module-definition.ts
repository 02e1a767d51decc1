import { RelationalDbConfig, providerModuleDefinition } from '@switchyard/core';
import type { MixedList } from 'typeorm';
import type { EntityClassOrSchema } from './relational-db.port';

export interface RelationalDbModuleOptions {
  relational: RelationalDbConfig;
  /**
   * The host app's own entities, in the same DataSource as Switchyard's (as in @nestjs/typeorm's
   * `entities`). RELATIONAL migrations copy their tables too. Default none.
   */
  entities?: EntityClassOrSchema[];
  /** Also take every entity registered with RelationalDbModule.forFeature([...]) (as @nestjs/typeorm's autoLoadEntities). Default false. */
  autoLoadEntities?: boolean;
  /** The host's TypeORM migrations for its entities, run on start after Switchyard's own. */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations?: MixedList<Function | string>;
  /** Create / alter the host entities' tables from their metadata on start (development; never Switchyard's own tables). Default false. */
  synchronize?: boolean;
  /** Prefix of Switchyard's own tables; default `relational.tablePrefix`, else `switchyard_`. */
  tablePrefix?: string;
}

export const { ConfigurableModuleClass: RelationalDbConfigurableModule, MODULE_OPTIONS_TOKEN: RELATIONAL_DB_OPTIONS } =
  providerModuleDefinition<RelationalDbModuleOptions>();
