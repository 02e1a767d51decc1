import { EmbeddingsConfig } from '@switchyard/core';
import { XenovaEmbeddings } from './drivers/xenova.driver';
import { Embeddings } from './embeddings.port';

/** Picks the driver for a validated config. The model loads on init(). */
export function createEmbeddings(config: EmbeddingsConfig): Embeddings {
  switch (config.provider) {
    case 'xenova':
      return new XenovaEmbeddings({
        model: config.model,
        modelPath: config.modelPath,
        batchSize: config.batchSize,
        cacheDir: config.cacheDir,
        allowRemote: config.allowRemote,
      });
    default: {
      const never: never = config.provider;
      throw new Error(`unknown embeddings provider ${JSON.stringify(never)}`);
    }
  }
}

/** The next model of a model switch (EMBEDDINGS_NEXT_*), configured like the primary one; null without one. Loads on init(). */
export function createNextEmbeddings(config: EmbeddingsConfig): Embeddings | null {
  return config.next ? createEmbeddings({ ...config, ...config.next }) : null;
}
