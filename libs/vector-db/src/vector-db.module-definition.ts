import { VectorDbConfig, providerModuleDefinition } from '@switchyard/core';

export interface VectorDbModuleOptions {
  vector: VectorDbConfig;
  /** Embedding model name the app writes with; recorded in the store and checked at start. */
  model: string;
}

export const { ConfigurableModuleClass: VectorDbConfigurableModule, MODULE_OPTIONS_TOKEN: VECTOR_DB_OPTIONS } =
  providerModuleDefinition<VectorDbModuleOptions>();
