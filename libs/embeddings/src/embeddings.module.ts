import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { EmbeddingsConfig, providerModuleDefinition } from '@switchyard/core';
import { EmbeddingModels } from './embedding-models';
import { createEmbeddings, createNextEmbeddings } from './embeddings.factory';
import { Embeddings } from './embeddings.port';

export interface EmbeddingsModuleOptions {
  embeddings: EmbeddingsConfig;
}

export const { ConfigurableModuleClass: EmbeddingsConfigurableModule, MODULE_OPTIONS_TOKEN: EMBEDDINGS_OPTIONS } =
  providerModuleDefinition<EmbeddingsModuleOptions>();

/**
 * `EmbeddingsModule.forRoot({ embeddings })`: provides the Embeddings port with the model loaded, and
 * EmbeddingModels: that model and, when `embeddings.next` is set (a model switch), the next one loaded too.
 */
@Module({
  providers: [
    {
      provide: Embeddings,
      inject: [EMBEDDINGS_OPTIONS],
      useFactory: async (o: EmbeddingsModuleOptions) => {
        const e = createEmbeddings(o.embeddings);
        await e.init();
        return e;
      },
    },
    {
      provide: EmbeddingModels,
      inject: [EMBEDDINGS_OPTIONS, Embeddings],
      useFactory: async (o: EmbeddingsModuleOptions, primary: Embeddings) => {
        const next = createNextEmbeddings(o.embeddings);
        await next?.init();
        return new EmbeddingModels(primary, next);
      },
    },
  ],
  exports: [Embeddings, EmbeddingModels],
})
export class EmbeddingsModule extends EmbeddingsConfigurableModule implements OnApplicationShutdown {
  constructor(@Inject(EmbeddingModels) private readonly models: EmbeddingModels) {
    super();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.models.all.map((e) => e.close()));
  }
}
