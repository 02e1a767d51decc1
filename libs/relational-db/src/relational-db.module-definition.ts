import { ConfigurableModuleBuilder } from '@nestjs/common';
import { RelationalDbConfig } from '@switchyard/core';

export interface RelationalDbModuleOptions {
  relational: RelationalDbConfig;
}

export const {
  ConfigurableModuleClass: RelationalDbConfigurableModule,
  MODULE_OPTIONS_TOKEN: RELATIONAL_DB_OPTIONS,
} = new ConfigurableModuleBuilder<RelationalDbModuleOptions>()
  .setClassMethodName('forRoot').setExtras({ isGlobal: true }, (def, extras) => ({ ...def, global: extras.isGlobal })).build();
