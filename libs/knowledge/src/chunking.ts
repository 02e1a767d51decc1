import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';

export interface ChunkingOptions {
  chunkSize: number;
  chunkOverlap: number;
}

/**
 * Splits text into overlapping chunks on paragraph, line, sentence and word boundaries (LangChain's
 * recursive character splitter). Used by indexing and by re-index migrations so both cut the same way.
 */
export function createChunker(o: ChunkingOptions): (text: string) => Promise<string[]> {
  const splitter = new RecursiveCharacterTextSplitter({ chunkSize: o.chunkSize, chunkOverlap: o.chunkOverlap });
  return async (text: string) => (await splitter.splitText(text)).filter((c) => c.trim().length > 0);
}
