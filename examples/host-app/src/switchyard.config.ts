import { registerAs } from '@nestjs/config';
import { loadConfig, SwitchyardConfig } from '@switchyard/core';

/**
 * Switchyard's settings as a @nestjs/config namespace: the same environment variables as the standalone
 * Switchyard server (RELATIONAL_DB_*, VECTOR_DB_*, EMBEDDINGS_*, LLM_*, KNOWLEDGE_*, MIGRATION_*; see
 * .env.example in the Switchyard repository), validated once at boot by `loadConfig`, which names every bad
 * variable. ConfigModule has loaded `.env` into process.env before this runs.
 */
export const switchyardConfig = registerAs('switchyard', (): SwitchyardConfig => loadConfig(process.env));

/** The validated Switchyard config from a ConfigService (for the modules' `useFactory`). */
export function switchyard(config: { getOrThrow<T>(key: string): T }): SwitchyardConfig {
  return config.getOrThrow<SwitchyardConfig>('switchyard');
}
