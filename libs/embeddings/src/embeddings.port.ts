/**
 * Embeddings port. The abstract class is the Nest injection token; drivers extend it.
 */
export abstract class Embeddings {
  /** Provider name as configured, e.g. `xenova`. */
  abstract readonly provider: string;
  /** Model identifier recorded alongside vectors (hub name, or the local directory's name). */
  abstract readonly model: string;
  /** Loads the model. Throws SwitchyardError('MODEL_LOAD_FAILED') with a clear message on failure. */
  abstract init(): Promise<void>;
  /** Output dimension; valid after init(). */
  abstract get dimensions(): number;
  /** Embeds texts in real batches; returns one L2-normalised Float32Array per text, in order. */
  abstract embed(texts: string[]): Promise<Float32Array[]>;
  abstract close(): Promise<void>;
}
