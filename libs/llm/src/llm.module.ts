import { Module } from '@nestjs/common';
import { LlmConfig, providerModuleDefinition } from '@switchyard/core';
import { createLlm } from './llm.factory';
import { Llm } from './llm.port';

export interface LlmModuleOptions {
  llm: LlmConfig;
}

export const { ConfigurableModuleClass: LlmConfigurableModule, MODULE_OPTIONS_TOKEN: LLM_OPTIONS } =
  providerModuleDefinition<LlmModuleOptions>();

/** `LlmModule.forRoot({ llm })`: provides the Llm port. The server is not contacted at start. */
@Module({
  providers: [{ provide: Llm, inject: [LLM_OPTIONS], useFactory: (o: LlmModuleOptions) => createLlm(o.llm) }],
  exports: [Llm],
})
export class LlmModule extends LlmConfigurableModule {}
