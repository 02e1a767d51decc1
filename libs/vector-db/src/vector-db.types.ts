export type MetadataValue = string | number | boolean | null;
export type Metadata = Record<string, MetadataValue>;

/** One stored chunk: what the app writes and what a migration moves. */
export interface VectorRecord {
  id: string;
  userId: string;
  documentId: string;
  chunkIndex: number;
  content: string;
  embedding: Float32Array;
  metadata: Metadata;
}

/** A stored record without its embedding: its fields, and how many dimensions its stored embedding has (0: none). */
export interface StoredFields extends Omit<VectorRecord, 'embedding'> {
  dimensions: number;
}

export interface VectorQuery {
  userId: string;
  documentId?: string;
  k: number;
}

export interface VectorMatch {
  id: string;
  userId: string;
  documentId: string;
  chunkIndex: number;
  content: string;
  metadata: Metadata;
  /** Cosine distance (0 = same direction). */
  distance: number;
  /** 1 - distance: cosine similarity. */
  score: number;
}

/** What a store says about itself. `stored*` are what is recorded in the store; null when empty/new. */
export interface VectorStoreInfo {
  provider: string;
  location: string;
  collection: string;
  metric: 'cosine';
  dimensions: number;
  storedDimensions: number | null;
  model: string | null;
  storedModel: string | null;
  /** The distance metric the store was created with (`metric` is what Switchyard expects). */
  storedMetric: string | null;
  count: number;
  /** Why the store must not be written into with the configured model/dimensions, if it must not. */
  mismatch: string | null;
}

/** What a driver keeps in its own meta table/collection metadata. */
export interface StoredMeta {
  dimensions: number;
  model: string | null;
  metric: string;
}
