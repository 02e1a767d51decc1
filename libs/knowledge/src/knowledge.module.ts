import { ConfigurableModuleBuilder, Module } from '@nestjs/common';
import { KNOWLEDGE_OPTIONS, KnowledgeService } from './knowledge.service';
import { KnowledgeOptions } from './knowledge.types';

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<KnowledgeOptions>().setClassMethodName('forRoot').build();

/**
 * `KnowledgeModule.forRoot(options)`: the KnowledgeService. Expects RelationalDbModule, VectorDbModule,
 * EmbeddingsModule and LlmModule (global by default) to be imported by the app.
 */
@Module({
  providers: [KnowledgeService, { provide: KNOWLEDGE_OPTIONS, useExisting: MODULE_OPTIONS_TOKEN }],
  exports: [KnowledgeService],
})
export class KnowledgeModule extends ConfigurableModuleClass {}
