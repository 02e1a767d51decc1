import { RelationalDbConfig, providerModuleDefinition } from '@switchyard/core';

export interface RelationalDbModuleOptions {
  relational: RelationalDbConfig;
}

export const { ConfigurableModuleClass: RelationalDbConfigurableModule, MODULE_OPTIONS_TOKEN: RELATIONAL_DB_OPTIONS } =
  providerModuleDefinition<RelationalDbModuleOptions>();
