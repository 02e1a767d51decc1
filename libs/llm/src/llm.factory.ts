import { LlmConfig } from '@switchyard/core';
import { OllamaLlm } from './drivers/ollama.driver';
import { Llm } from './llm.port';

export function createLlm(config: LlmConfig): Llm {
  switch (config.provider) {
    case 'ollama':
      return new OllamaLlm({ url: config.url, model: config.model, timeoutMs: config.timeoutMs });
    default: {
      const never: never = config.provider;
      throw new Error(`unknown LLM provider ${JSON.stringify(never)}`);
    }
  }
}
