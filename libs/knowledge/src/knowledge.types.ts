import { DocumentEntity } from '@switchyard/relational-db';

export interface KnowledgeOptions {
  chunkSize: number;
  chunkOverlap: number;
  maxDocumentBytes: number;
  maxSearchLimit: number;
  /** Chunks under this cosine similarity are not used as context for answers. */
  minScore: number;
  answerContextChunks: number;
  /** How often this instance reads which embedding generation is active, in ms (default 1000). */
  generationPollMs?: number;
}

export interface IndexResult {
  document: DocumentEntity;
  chunks: number;
  /** Nothing was written: the document was stored exactly so, with its chunks, by this model (nothing embedded). */
  unchanged?: boolean;
}

export interface KnowledgeHit {
  documentId: string;
  chunkIndex: number;
  content: string;
  score: number;
  title: string | null;
  /** The embedding model of the generation that answered (scores are only comparable within one model). */
  model: string;
}

export interface KnowledgeAnswer {
  text: string;
  sources: KnowledgeHit[];
  /** False when no stored context was relevant and the LLM was not asked. */
  grounded: boolean;
}

export const NO_CONTEXT_ANSWER = "I couldn't find anything in your documents that answers this question.";
