import { Module } from '@nestjs/common';
import { providerModuleDefinition } from '@switchyard/core';
import { KNOWLEDGE_OPTIONS, KnowledgeService } from './knowledge.service';
import { KnowledgeOptions } from './knowledge.types';

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = providerModuleDefinition<KnowledgeOptions>();

/**
 * `KnowledgeModule.forRoot(options)`: the KnowledgeService (global unless `isGlobal: false`). Expects RelationalDbModule, VectorDbModule,
 * EmbeddingsModule and LlmModule (global by default) to be imported by the app.
 */
@Module({
  providers: [KnowledgeService, { provide: KNOWLEDGE_OPTIONS, useExisting: MODULE_OPTIONS_TOKEN }],
  exports: [KnowledgeService],
})
export class KnowledgeModule extends ConfigurableModuleClass {}
