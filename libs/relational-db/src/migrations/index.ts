import { InitialSchema1732230000000 } from './1732230000000-initial-schema';

/** Every schema migration, oldest first. Run on start by RelationalDb.init(). */
export const SCHEMA_MIGRATIONS = [InitialSchema1732230000000];
