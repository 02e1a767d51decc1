import { InitialSchema1732230000000 } from './1732230000000-initial-schema';
import { RunOwnership1764580000000 } from './1764580000000-run-ownership';
import { Timestamptz1764590000000 } from './1764590000000-timestamptz';

/** Every schema migration, oldest first. Run on start by RelationalDb.init(). */
export const SCHEMA_MIGRATIONS = [InitialSchema1732230000000, RunOwnership1764580000000, Timestamptz1764590000000];
