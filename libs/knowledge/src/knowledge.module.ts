import { Module } from '@nestjs/common';
import { providerModuleDefinition } from '@switchyard/core';
import { EmbeddingModels, Embeddings } from '@switchyard/embeddings';
import { RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { ModelGenerations } from './generations';
import { KNOWLEDGE_OPTIONS, KnowledgeService } from './knowledge.service';
import { KnowledgeOptions } from './knowledge.types';

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = providerModuleDefinition<KnowledgeOptions>();

/**
 * `KnowledgeModule.forRoot(options)`: the KnowledgeService and the embedding generations it serves
 * (ModelGenerations; global unless `isGlobal: false`). Expects RelationalDbModule, VectorDbModule,
 * EmbeddingsModule and LlmModule (global by default) to be imported by the app.
 */
@Module({
  providers: [
    KnowledgeService,
    { provide: KNOWLEDGE_OPTIONS, useExisting: MODULE_OPTIONS_TOKEN },
    {
      provide: ModelGenerations,
      inject: [RelationalDb, VectorDb, Embeddings, { token: EmbeddingModels, optional: true }, MODULE_OPTIONS_TOKEN],
      useFactory: (db: RelationalDb, vectors: VectorDb, embeddings: Embeddings, models: EmbeddingModels | undefined, o: KnowledgeOptions) =>
        new ModelGenerations(db, vectors, models ?? new EmbeddingModels(embeddings), o.generationPollMs ?? 1000),
    },
  ],
  exports: [KnowledgeService, ModelGenerations],
})
export class KnowledgeModule extends ConfigurableModuleClass {}
