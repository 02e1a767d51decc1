import { SwitchyardError } from '@switchyard/core';
import { Embeddings } from './embeddings.port';

/**
 * The embedding models this instance has loaded, by model name: the configured one (EMBEDDINGS_*) and,
 * during a model switch, the next one (EMBEDDINGS_NEXT_*). An embedding generation names its model; an
 * instance serves a generation only with that very model. Injection token, like the ports.
 */
export class EmbeddingModels {
  private readonly byName: ReadonlyMap<string, Embeddings>;

  constructor(
    /** EMBEDDINGS_*: the model the app was configured with. */
    readonly primary: Embeddings,
    /** EMBEDDINGS_NEXT_*: the model a switch moves to, or null. */
    readonly next: Embeddings | null = null,
  ) {
    this.byName = new Map([primary, ...(next ? [next] : [])].map((e) => [e.model, e]));
  }

  /** Every loaded model. */
  get all(): Embeddings[] {
    return [...this.byName.values()];
  }

  find(model: string): Embeddings | null {
    return this.byName.get(model) ?? null;
  }

  /** The loaded model of this name; MODEL_NOT_LOADED (naming the settings) when this instance has not loaded it. */
  get(model: string): Embeddings {
    const found = this.find(model);
    if (found) return found;
    throw new SwitchyardError(
      'MODEL_NOT_LOADED',
      `the embedding model "${model}" is not loaded by this instance (loaded: ${[...this.byName.keys()].join(', ')}); set EMBEDDINGS_XENOVA_MODEL or EMBEDDINGS_NEXT_XENOVA_MODEL(_PATH) to it and restart`,
      { model, loaded: [...this.byName.keys()] },
    );
  }
}
