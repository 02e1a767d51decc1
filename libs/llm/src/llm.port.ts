export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerateOptions {
  system?: string;
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
}

/**
 * LLM port. The abstract class is the Nest injection token; drivers extend it.
 * Errors: ProviderUnavailableError when the server cannot be reached or answers with an error.
 */
export abstract class Llm {
  abstract readonly provider: string;
  abstract readonly model: string;
  abstract generate(prompt: string, options?: GenerateOptions): Promise<string>;
  abstract chat(messages: ChatMessage[], options?: GenerateOptions): Promise<string>;
  /** Streams the answer as it is produced, chunk by chunk. */
  abstract chatStream(messages: ChatMessage[], options?: GenerateOptions): AsyncIterable<string>;
  /** True when the server answers and the model is available. */
  abstract ping(): Promise<boolean>;
}
