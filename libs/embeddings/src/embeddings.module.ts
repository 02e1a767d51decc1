import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { EmbeddingsConfig, providerModuleDefinition } from '@switchyard/core';
import { createEmbeddings } from './embeddings.factory';
import { Embeddings } from './embeddings.port';

export interface EmbeddingsModuleOptions {
  embeddings: EmbeddingsConfig;
}

export const { ConfigurableModuleClass: EmbeddingsConfigurableModule, MODULE_OPTIONS_TOKEN: EMBEDDINGS_OPTIONS } =
  providerModuleDefinition<EmbeddingsModuleOptions>();

/** `EmbeddingsModule.forRoot({ embeddings })`: provides the Embeddings port with the model loaded. */
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
  ],
  exports: [Embeddings],
})
export class EmbeddingsModule extends EmbeddingsConfigurableModule implements OnApplicationShutdown {
  constructor(@Inject(Embeddings) private readonly embeddings: Embeddings) {
    super();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.embeddings.close();
  }
}
