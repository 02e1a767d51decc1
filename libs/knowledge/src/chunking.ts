import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';

export interface ChunkingOptions {
  chunkSize: number;
  chunkOverlap: number;
}

/**
 * LangChain's recursive splitter, except that its last resort (cutting between characters) cuts between
 * code points, not UTF-16 units: an emoji or any character above U+FFFF is never split into two lone
 * surrogates (which no store keeps, and which the vector stores refuse).
 */
class CodePointSplitter extends RecursiveCharacterTextSplitter {
  protected override splitOnSeparator(text: string, separator: string): string[] {
    return separator ? super.splitOnSeparator(text, separator) : Array.from(text);
  }
}

/**
 * Splits text into overlapping chunks on paragraph, line, sentence and word boundaries (LangChain's
 * recursive character splitter). Used by indexing and by re-index migrations so both cut the same way.
 */
export function createChunker(o: ChunkingOptions): (text: string) => Promise<string[]> {
  const splitter = new CodePointSplitter({ chunkSize: o.chunkSize, chunkOverlap: o.chunkOverlap });
  return async (text: string) => (await splitter.splitText(text)).filter((c) => c.trim().length > 0);
}
