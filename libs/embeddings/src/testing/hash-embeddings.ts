import { createHash } from 'node:crypto';
import { Embeddings } from '../embeddings.port';

/**
 * Deterministic, L2-normalised 32-dimensional embeddings of a text's SHA-256, for tests whose subject is a
 * store or a race, not the model (the stores under test are real; the model's own tests use the generated
 * ONNX model).
 */
export class HashEmbeddings extends Embeddings {
  readonly provider = 'test-hash';
  readonly model = 'test-hash';
  async init(): Promise<void> {}
  get dimensions(): number {
    return 32;
  }
  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => {
      const h = createHash('sha256').update(t).digest();
      const v = Float32Array.from({ length: 32 }, (_, i) => h[i] / 255 + 0.01);
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    });
  }
  async close(): Promise<void> {}
}
